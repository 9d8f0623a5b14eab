{{/* Name of everything this release creates (releases may be installed once per cluster). */}}
{{- define "switchboard.fullname" -}}
{{- if eq .Release.Name .Chart.Name -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "switchboard.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: switchboard
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "switchboard.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "switchboard.serviceAccountName" -}}
{{- .Values.serviceAccount.name -}}
{{- end -}}

{{/* An image reference: repository@digest when pinned, else repository:tag (appVersion). */}}
{{- define "switchboard.image" -}}
{{- $image := index .root.Values.images .name -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default .root.Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The restricted Pod Security profile, for every container the chart runs. */}}
{{- define "switchboard.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "switchboard.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The dev PostgreSQL's Secret (keys `url`, `password`), when `devPostgres.enabled`. */}}
{{- define "switchboard.devPostgresSecret" -}}
{{- printf "%s-dev-postgres" (include "switchboard.fullname" .) -}}
{{- end -}}

{{/* The call store's Secret as `name: …, key: …` (name empty: none): the chart value, else the
dev PostgreSQL's when it runs. */}}
{{- define "switchboard.callStoreRef" -}}
{{- $ref := .Values.storage.callStore.connectionSecretRef -}}
{{- if $ref.name -}}
name: {{ $ref.name | quote }}
key: {{ $ref.key | quote }}
{{- else if .Values.devPostgres.enabled -}}
name: {{ include "switchboard.devPostgresSecret" . | quote }}
key: "url"
{{- else -}}
name: ""
key: "url"
{{- end -}}
{{- end -}}

{{/* The default knowledge store's Secret, the same way. */}}
{{- define "switchboard.knowledgeStoreRef" -}}
{{- $ref := .Values.knowledge.defaultStore.connectionSecretRef -}}
{{- if $ref.name -}}
name: {{ $ref.name | quote }}
key: {{ $ref.key | quote }}
{{- else if .Values.devPostgres.enabled -}}
name: {{ include "switchboard.devPostgresSecret" . | quote }}
key: "url"
{{- else -}}
name: ""
key: "url"
{{- end -}}
{{- end -}}
