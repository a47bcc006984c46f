{{/* Object names are MetalLB's fixed ones (controller, speaker, metallb-webhook-*), not prefixed by the
release: one installation per cluster, and MetalLB's manifests and docs name them so. */}}

{{- define "pymetallb.name" -}}pymetallb{{- end -}}

{{- define "pymetallb.labels" -}}
app.kubernetes.io/name: {{ include "pymetallb.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "controller") */}}
{{- define "pymetallb.selector" -}}
app.kubernetes.io/name: {{ include "pymetallb.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The image of a component: its own image keys, else the chart's. (dict "root" $ "values" .Values.controller) */}}
{{- define "pymetallb.image" -}}
{{- $repo := .values.image.repository | default .root.Values.image.repository -}}
{{- $tag := .values.image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}

{{- define "pymetallb.pullPolicy" -}}
{{- .values.image.pullPolicy | default .root.Values.image.pullPolicy -}}
{{- end -}}

{{- define "pymetallb.serviceAccountName" -}}
{{- if .values.serviceAccount.create -}}
{{ .values.serviceAccount.name | default .component }}
{{- else -}}
{{ .values.serviceAccount.name | default "default" }}
{{- end -}}
{{- end -}}

{{/* Pod-level scheduling keys every component shares. (dict "root" $ "values" .Values.x) */}}
{{- define "pymetallb.scheduling" -}}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .values.runtimeClassName }}
runtimeClassName: {{ . }}
{{- end }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "pymetallb.podAnnotations" -}}
{{- $ann := .values.podAnnotations | default dict -}}
{{- if .root.Values.prometheus.scrapeAnnotations -}}
{{- $ann = merge (dict "prometheus.io/scrape" "true" "prometheus.io/port" (toString .root.Values.prometheus.metricsPort)) $ann -}}
{{- end -}}
{{- with $ann }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The environment every program reads: its namespace and pod. */}}
{{- define "pymetallb.podEnv" -}}
- name: METALLB_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: METALLB_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: METALLB_POD_UID
  valueFrom:
    fieldRef:
      fieldPath: metadata.uid
{{- end -}}

{{/* A restricted container: no privilege, read-only root, every capability dropped. */}}
{{- define "pymetallb.restrictedContainer" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{- define "pymetallb.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: monitoring
  initialDelaySeconds: 10
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: monitoring
  initialDelaySeconds: 5
  periodSeconds: 10
  failureThreshold: 3
{{- end -}}
