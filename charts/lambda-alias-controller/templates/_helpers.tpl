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
The Lease the controller elects its leader with. Fixed in the binary (the field manager
name), so it is not derived from the release name.
*/}}
{{- define "lac.leaseName" -}}
lambda-alias-controller
{{- end }}
