{{/* Helm's own labels, on every object's metadata only (selectors and pod templates stay as in deploy/,
so the equivalence test ignores exactly these). */}}
{{- define "purelb.helmLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* Metadata labels of the objects of deploy/purelb/base: their own labels, part-of, Helm's. */}}
{{- define "purelb.baseLabels" -}}
{{ include "purelb.helmLabels" . }}
app.kubernetes.io/part-of: purelb
{{- end }}

{{- define "purelb.image" -}}
{{ printf "%s:%s" .repository .tag }}
{{- end }}
