{{/* The objects' name: the release's, with the chart's unless it holds it. */}}
{{- define "amp-agent.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "amp-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "amp-agent.labels" -}}
{{ include "amp-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: edge-agent
app.kubernetes.io/part-of: amp
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "amp-agent.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The ConfigMap holding AMP's CA, if any. */}}
{{- define "amp-agent.serverCAConfigMap" -}}
{{- if .Values.server.ca.pem -}}
{{ include "amp-agent.fullname" . }}-server-ca
{{- else -}}
{{ .Values.server.ca.configMap }}
{{- end -}}
{{- end -}}

{{/* Where the state directory lives; the values' schema names the choices. */}}
{{- define "amp-agent.stateClaim" -}}
{{- .Values.state.existingClaim | default (printf "%s-state" (include "amp-agent.fullname" .)) -}}
{{- end -}}
