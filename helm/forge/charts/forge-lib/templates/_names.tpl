{{/*
Names and labels every Forge template shares. The umbrella chart's own templates and each
service subchart include these, so a service's pods, its Service and the NetworkPolicies that
name it agree on one set of labels.
*/}}

{{/* The release-wide prefix: "<release>-forge" unless the release is already called forge. */}}
{{- define "forge.fullname" -}}
{{- if contains "forge" .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-forge" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* A component's resource name: "<fullname>-<component>". */}}
{{- define "forge.componentName" -}}
{{- printf "%s-%s" (include "forge.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select a component's pods (stable across upgrades). The name is the
component's (edge, router, ..., nats), which docs/observability/prometheus.yml's Kubernetes job
takes as the `service` label. */}}
{{- define "forge.selectorLabels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Every label a Forge resource carries. */}}
{{- define "forge.labels" -}}
{{ include "forge.selectorLabels" . }}
app.kubernetes.io/part-of: forge
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | default "0.1.0" | quote }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | quote }}
{{- end -}}

{{/* The image every service runs (one image, entrypoint `forge run`). */}}
{{- define "forge.image" -}}
{{- $img := .Values.global.image -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository ($img.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the JWT secret, sealing keys, session secret and admin password. */}}
{{- define "forge.secretName" -}}
{{- .Values.global.secrets.existingSecret | default (printf "%s-secrets" (include "forge.fullname" .)) -}}
{{- end -}}

{{/* Whether NATS is bundled (a StatefulSet of this release) or external. */}}
{{- define "forge.natsBundled" -}}
{{- if not .Values.global.nats.external.url -}}true{{- end -}}
{{- end -}}

{{/* The NATS URL without credentials. */}}
{{- define "forge.natsUrl" -}}
{{- if .Values.global.nats.external.url -}}
{{- .Values.global.nats.external.url -}}
{{- else -}}
{{- printf "nats://%s:4222" (include "forge.componentName" (dict "root" . "component" "nats")) -}}
{{- end -}}
{{- end -}}

{{/* The Secret with each service's NATS password (key = service name). */}}
{{- define "forge.natsAuthSecret" -}}
{{- .Values.global.nats.auth.existingSecret | default (printf "%s-nats-auth" (include "forge.fullname" .)) -}}
{{- end -}}

{{/* Whether one registry database (catalog or identity) is bundled. */}}
{{- define "forge.pgBundled" -}}
{{- $db := index .root.Values.global.postgresql .db -}}
{{- if not $db.existingSecret -}}true{{- end -}}
{{- end -}}

{{/* The Secret and key holding one registry database's DSN. */}}
{{- define "forge.pgSecret" -}}
{{- $db := index .root.Values.global.postgresql .db -}}
{{- $db.existingSecret | default (printf "%s-postgresql-%s" (include "forge.fullname" .root) .db) -}}
{{- end -}}
{{- define "forge.pgSecretKey" -}}
{{- $db := index .root.Values.global.postgresql .db -}}
{{- if $db.existingSecret -}}{{ $db.existingSecretKey | default "dsn" }}{{- else -}}dsn{{- end -}}
{{- end -}}

{{/* The restricted security context of every Forge container. */}}
{{- define "forge.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.global.securityContext.runAsUser }}
runAsGroup: {{ .Values.global.securityContext.runAsGroup }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "forge.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.global.securityContext.runAsUser }}
runAsGroup: {{ .Values.global.securityContext.runAsGroup }}
fsGroup: {{ .Values.global.securityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Egress to the cluster DNS, which every pod needs to resolve NATS and PostgreSQL. */}}
{{- define "forge.dnsEgress" -}}
- to:
    - namespaceSelector: {}
      podSelector:
        matchLabels:
          {{- toYaml .Values.global.networkPolicy.dnsSelector | nindent 10 }}
  ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
{{- end -}}

{{/* Egress to NATS: its pods when bundled, the operator's CIDRs when external. */}}
{{- define "forge.natsEgress" -}}
{{- if include "forge.natsBundled" . }}
- to:
    - podSelector:
        matchLabels:
          {{- include "forge.selectorLabels" (dict "root" . "component" "nats") | nindent 10 }}
  ports:
    - {port: 4222, protocol: TCP}
{{- else }}
- to:
    {{- range .Values.global.nats.external.egressCIDRs }}
    - ipBlock: {cidr: {{ . | quote }}}
    {{- end }}
  ports:
    - {port: {{ .Values.global.nats.external.port }}, protocol: TCP}
{{- end }}
{{- end -}}

{{/* Egress to one registry database: its pod when bundled, the operator's CIDRs when external. */}}
{{- define "forge.pgEgress" -}}
{{- $g := .root.Values.global.postgresql -}}
{{- if include "forge.pgBundled" . }}
- to:
    - podSelector:
        matchLabels:
          {{- include "forge.selectorLabels" (dict "root" .root "component" (printf "postgresql-%s" .db)) | nindent 10 }}
  ports:
    - {port: 5432, protocol: TCP}
{{- else }}
- to:
    {{- range $g.external.egressCIDRs }}
    - ipBlock: {cidr: {{ . | quote }}}
    {{- end }}
  ports:
    - {port: {{ $g.external.port }}, protocol: TCP}
{{- end }}
{{- end -}}
