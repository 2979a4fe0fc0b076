{{/* The labels every object of the release carries. */}}
{{- define "orgops.labels" -}}
app.kubernetes.io/name: orgops
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{/* The labels that select the controller's pods. */}}
{{- define "orgops.selector" -}}
app.kubernetes.io/name: orgops
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "orgops.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Namespaces the platform policy makes admin. */}}
{{- define "orgops.adminNamespaces" -}}
{{- $admins := list -}}
{{- range $name, $grant := .Values.platformPolicy.namespaces -}}
{{- if and $grant (get $grant "admin") -}}{{- $admins = append $admins $name -}}{{- end -}}
{{- end -}}
{{- toJson $admins -}}
{{- end -}}
