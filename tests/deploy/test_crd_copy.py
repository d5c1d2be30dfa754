"""The chart's CRD is the generated one (`make crds` writes crds/lambdaaliasset.yaml)."""

from deploy_support import CHART_CRD, CRD, helm, CHART


def test_chart_crd_is_byte_identical_to_the_generated_crd():
    assert CHART_CRD.read_bytes() == CRD.read_bytes(), (
        f"{CHART_CRD.relative_to(CHART.parents[1])} differs from crds/lambdaaliasset.yaml: "
        "copy it again (cp crds/lambdaaliasset.yaml charts/lambda-alias-controller/crds/)"
    )


def test_chart_ships_only_that_crd():
    with helm.Chart.load(CHART) as chart:
        crds = chart.crds
    assert [c["filename"] for c in crds] == ["lambda-alias-controller/crds/lambdaaliasset.yaml"]
    assert crds[0]["data"] == CRD.read_text()
