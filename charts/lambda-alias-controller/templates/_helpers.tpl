{{/*
The chart name (nameOverride wins).
*/}}
{{- define "lac.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: fullnameOverride, else the release name, with the
chart name appended unless the release name already contains it.
*/}}
{{- define "lac.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
chart-version, for the helm.sh/chart label.
*/}}
{{- define "lac.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels that select the controller's pods (never change them on upgrade).
*/}}
{{- define "lac.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lac.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{/*
Labels on every object.
*/}}
{{- define "lac.labels" -}}
helm.sh/chart: {{ include "lac.chart" . }}
{{ include "lac.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
The ServiceAccount the controller runs as.
*/}}
{{- define "lac.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lac.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image tag: image.tag, else the chart's appVersion.
*/}}
{{- define "lac.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion | toString }}
{{- end }}

{{/*
"true" when leader election is on: forced by leaderElection.enabled, or implied by more
than one replica (two controllers must never reconcile the same sets at once).
*/}}
{{- define "lac.leaderElection" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicaCount) 1) }}true{{- end }}
{{- end }}

{{/*
The watched namespaces, de-duplicated, in the order given.
*/}}
{{- define "lac.watchNamespaces" -}}
{{- $seen := list }}
{{- range .Values.watchNamespaces }}
{{- if not (has . $seen) }}{{ $seen = append $seen . }}{{- end }}
{{- end }}
{{- toJson $seen }}
{{- end }}

{{/*
The controller's Deployments, as a JSON list of {name, selector, budgetShare}: one with an
empty name and selector without `shards`, else one per shard. Each gets its --budget-share:
the shard's own, else an even split of what `budgetShare` leaves after the shards that name
theirs. Invalid shards fail the render, naming the value.
*/}}
{{- define "lac.instances" -}}
{{- $total := float64 .Values.budgetShare }}
{{- if not (and (gt $total 0.0) (le $total 1.0)) }}
{{- fail (printf "budgetShare must be a fraction in (0, 1], not %v" .Values.budgetShare) }}
{{- end }}
{{- $drift := float64 .Values.driftBudget }}
{{- if not (and (gt $drift 0.0) (le $drift 1.0)) }}
{{- fail (printf "driftBudget must be a fraction in (0, 1], not %v" .Values.driftBudget) }}
{{- end }}
{{- $fullname := include "lac.fullname" . }}
{{- $instances := list }}
{{- if not .Values.shards }}
{{- $instances = append $instances (dict "name" "" "selector" "" "budgetShare" $total) }}
{{- else }}
{{- $names := list }}
{{- $selectors := list }}
{{- $named := 0.0 }}
{{- $unnamed := 0 }}
{{- range $i, $shard := .Values.shards }}
{{- if not (kindIs "map" $shard) }}
{{- fail (printf "shards[%d] must be a map with name, selector and optionally budgetShare" $i) }}
{{- end }}
{{- range $key, $_ := $shard }}
{{- if not (has $key (list "name" "selector" "budgetShare")) }}
{{- fail (printf "shards[%d].%s is not a shard key (name, selector, budgetShare)" $i $key) }}
{{- end }}
{{- end }}
{{- $name := toString (default "" $shard.name) }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $name) }}
{{- fail (printf "shards[%d].name must be a DNS label (lowercase letters, digits, '-'), not %q" $i $name) }}
{{- end }}
{{- if gt (len (printf "%s-%s" $fullname $name)) 63 }}
{{- fail (printf "shards[%d].name %q makes the Deployment name %s-%s longer than 63 characters" $i $name $fullname $name) }}
{{- end }}
{{- if has $name $names }}
{{- fail (printf "shards[%d].name %q is used twice" $i $name) }}
{{- end }}
{{- $names = append $names $name }}
{{- $selector := toString (default "" $shard.selector) }}
{{- if not $selector }}
{{- fail (printf "shards[%d].selector is required: the label selector of the sets this shard reconciles (--shard)" $i) }}
{{- end }}
{{- if has $selector $selectors }}
{{- fail (printf "shards[%d].selector %q is used twice" $i $selector) }}
{{- end }}
{{- $selectors = append $selectors $selector }}
{{- if kindIs "invalid" $shard.budgetShare }}
{{- $unnamed = add1 $unnamed }}
{{- else }}
{{- $share := float64 $shard.budgetShare }}
{{- if not (and (gt $share 0.0) (le $share 1.0)) }}
{{- fail (printf "shards[%d].budgetShare must be a fraction in (0, 1], not %v" $i $shard.budgetShare) }}
{{- end }}
{{- $named = addf $named $share }}
{{- end }}
{{- end }}
{{- /* Float sums of even splits (3 x 1/3) may land a hair above the total. */}}
{{- if gt $named (addf $total 0.000000001) }}
{{- fail (printf "the shards' budgetShare values sum to %v, more than budgetShare %v: replicas touching one AWS account must not spend more than its quotas" $named $total) }}
{{- end }}
{{- $rest := 0.0 }}
{{- if gt $unnamed 0 }}
{{- $rest = divf (subf $total $named) $unnamed }}
{{- if le $rest 0.000000001 }}
{{- fail (printf "the shards without budgetShare get nothing: the others already take %v of budgetShare %v" $named $total) }}
{{- end }}
{{- end }}
{{- range .Values.shards }}
{{- $share := $rest }}
{{- if not (kindIs "invalid" .budgetShare) }}{{ $share = float64 .budgetShare }}{{ end }}
{{- $instances = append $instances (dict "name" (toString .name) "selector" (toString .selector) "budgetShare" $share) }}
{{- end }}
{{- end }}
{{- toJson $instances }}
{{- end }}

{{/*
The Lease a replica elects its leader with, for a shard's selector (empty: no shards). The
binary computes the same name (src/controller/run.rs, lease_name): the fixed name without
--shard, else one Lease per shard named after the first 8 hex digits of the SHA-256 of the
selector's exact text (a selector is not a valid object name).
*/}}
{{- define "lac.leaseName" -}}
{{- if . }}
{{- printf "lambda-alias-controller-shard-%s" (sha256sum . | trunc 8) }}
{{- else }}
{{- "lambda-alias-controller" }}
{{- end }}
{{- end }}

{{/*
Every Lease of the release's Deployments, as a JSON list.
*/}}
{{- define "lac.leaseNames" -}}
{{- $names := list }}
{{- range include "lac.instances" . | fromJsonArray }}
{{- $names = append $names (include "lac.leaseName" .selector) }}
{{- end }}
{{- toJson $names }}
{{- end }}
