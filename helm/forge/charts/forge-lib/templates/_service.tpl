{{/*
One Forge service: its Deployment, Service, HorizontalPodAutoscaler, PodDisruptionBudget,
NetworkPolicy and (when asked or when the Prometheus operator is installed) ServiceMonitor.
Each service subchart's templates/service.yaml is `{{ include "forge.service" . }}`; what
differs between services is in that subchart's values.yaml (component, the `forge run` name,
the secrets it reads, whether it may dial out, the edge's HTTP port).
*/}}
{{- define "forge.service" -}}
{{- $c := .Values.component -}}
{{- $ctx := dict "root" . "component" $c -}}
{{- $name := include "forge.componentName" $ctx -}}
{{- $g := .Values.global -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels:
    {{- include "forge.labels" $ctx | nindent 4 }}
spec:
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ .Values.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "forge.selectorLabels" $ctx | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  template:
    metadata:
      labels:
        {{- include "forge.labels" $ctx | nindent 8 }}
        forge.dev/nats-client: "true"
        {{- if eq $c "registry" }}
        forge.dev/postgresql-client: "true"
        {{- end }}
      annotations:
        checksum/nats-auth: {{ toJson $g.nats | sha256sum | trunc 16 }}
        {{- if $g.prometheusAnnotations }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $g.opsPort | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with .Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
      securityContext:
        {{- include "forge.podSecurityContext" . | nindent 8 }}
      {{- with $g.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if .Values.migrateAtStart }}
      # The migrations before the registry starts (idempotent, under advisory locks): on a first
      # install with bundled databases the hook Job runs only after the pods exist.
      initContainers:
        - name: migrate
          image: {{ include "forge.image" . | quote }}
          imagePullPolicy: {{ $g.image.pullPolicy }}
          args: ["registry", "migrate"]
          env:
            - {name: FORGE_LOG_FORMAT, value: {{ $g.logFormat | quote }}}
            {{- range $db := list "catalog" "identity" }}
            - name: FORGE_{{ upper $db }}_DATABASE_URL
              valueFrom:
                secretKeyRef:
                  name: {{ include "forge.pgSecret" (dict "root" $ "db" $db) }}
                  key: {{ include "forge.pgSecretKey" (dict "root" $ "db" $db) }}
            {{- end }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
          securityContext:
            {{- include "forge.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      {{- end }}
      containers:
        - name: {{ $c }}
          image: {{ include "forge.image" . | quote }}
          imagePullPolicy: {{ $g.image.pullPolicy }}
          args: ["{{ .Values.service }}"]
          ports:
            - name: ops
              containerPort: {{ $g.opsPort }}
              protocol: TCP
            {{- if .Values.http }}
            - name: http
              containerPort: {{ .Values.http.port }}
              protocol: TCP
            {{- if .Values.http.a2aGrpcPort }}
            - name: a2a-grpc
              containerPort: {{ .Values.http.a2aGrpcPort }}
              protocol: TCP
            {{- end }}
            {{- end }}
          env:
            {{- include "forge.env" . | nindent 12 }}
          {{- with .Values.extraEnvFrom }}
          envFrom:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          livenessProbe:
            httpGet: {path: /livez, port: ops}
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          readinessProbe:
            httpGet: {path: /readyz, port: ops}
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 2
          startupProbe:
            httpGet: {path: /livez, port: ops}
            periodSeconds: 2
            failureThreshold: 60
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
          securityContext:
            {{- include "forge.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: {{ .Values.tmpSize }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "forge.selectorLabels" $ctx | nindent 14 }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  labels:
    {{- include "forge.labels" $ctx | nindent 4 }}
  {{- with (and .Values.http .Values.http.serviceAnnotations) }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ if .Values.http }}{{ .Values.http.serviceType }}{{ else }}ClusterIP{{ end }}
  selector:
    {{- include "forge.selectorLabels" $ctx | nindent 4 }}
  ports:
    {{- if .Values.http }}
    - name: http
      port: {{ .Values.http.port }}
      targetPort: http
      protocol: TCP
    {{- if .Values.http.a2aGrpcPort }}
    - name: a2a-grpc
      port: {{ .Values.http.a2aGrpcPort }}
      targetPort: a2a-grpc
      protocol: TCP
    {{- end }}
    {{- end }}
    - name: ops
      port: {{ $g.opsPort }}
      targetPort: ops
      protocol: TCP
{{- if .Values.autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $name }}
  labels:
    {{- include "forge.labels" $ctx | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $name }}
  minReplicas: {{ .Values.autoscaling.minReplicas }}
  maxReplicas: {{ .Values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .Values.autoscaling.targetCPUUtilizationPercentage }}
    {{- if .Values.autoscaling.inFlight.enabled }}
    - type: Pods
      pods:
        metric:
          name: {{ .Values.autoscaling.inFlight.metric }}
        target:
          type: AverageValue
          averageValue: {{ .Values.autoscaling.inFlight.averageValue | quote }}
    {{- end }}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 300
{{- end }}
{{- if .Values.podDisruptionBudget.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $name }}
  labels:
    {{- include "forge.labels" $ctx | nindent 4 }}
spec:
  maxUnavailable: {{ .Values.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "forge.selectorLabels" $ctx | nindent 6 }}
{{- end }}
{{- if $g.networkPolicy.enabled }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ $name }}
  labels:
    {{- include "forge.labels" $ctx | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "forge.selectorLabels" $ctx | nindent 6 }}
  policyTypes: [Ingress, Egress]
  ingress:
    {{- if .Values.http }}
    # The edge alone takes traffic from outside, on its HTTP port (and A2A gRPC port, if on).
    - ports:
        - {port: http, protocol: TCP}
        {{- if .Values.http.a2aGrpcPort }}
        - {port: a2a-grpc, protocol: TCP}
        {{- end }}
      {{- with .Values.http.ingressFrom }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    # The ops port (/metrics, /livez, /readyz): Prometheus. Kubelet probes come from the node.
    - ports:
        - {port: ops, protocol: TCP}
      from:
        {{- toYaml $g.networkPolicy.metricsFrom | nindent 8 }}
  egress:
    {{- include "forge.dnsEgress" . | nindent 4 }}
    {{- include "forge.natsEgress" . | nindent 4 }}
    {{- if eq $c "registry" }}
    {{- include "forge.pgEgress" (dict "root" . "db" "catalog") | nindent 4 }}
    {{- include "forge.pgEgress" (dict "root" . "db" "identity") | nindent 4 }}
    {{- end }}
    {{- if .Values.egress.internet }}
    # Dials out (upstream MCP servers, A2A agents, ...): anywhere but the cluster's own ranges.
    - to:
        - ipBlock:
            cidr: 0.0.0.0/0
            except:
              {{- toYaml $g.networkPolicy.internalCIDRs | nindent 14 }}
        {{- if $g.networkPolicy.ipv6 }}
        - ipBlock:
            cidr: ::/0
            except:
              {{- toYaml $g.networkPolicy.internalCIDRsV6 | nindent 14 }}
        {{- end }}
    {{- end }}
    {{- range $g.networkPolicy.extraEgress }}
    - {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- range .Values.egress.extra }}
    - {{- toYaml . | nindent 6 }}
    {{- end }}
{{- end }}
{{- if or .Values.serviceMonitor.enabled $g.serviceMonitor.enabled (and $g.serviceMonitor.auto (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor")) }}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ $name }}
  labels:
    {{- include "forge.labels" $ctx | nindent 4 }}
    {{- with $g.serviceMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "forge.selectorLabels" $ctx | nindent 6 }}
  endpoints:
    - port: ops
      path: /metrics
      interval: {{ $g.serviceMonitor.interval }}
      relabelings:
        - targetLabel: service
          replacement: {{ $c }}
{{- end }}
{{- end -}}

{{/* The container's environment: the chart's settings, the secrets, then `global.env` and the
service's own `env`, each name once (a later one replaces an earlier one). NATS_PASSWORD comes
first: FORGE_NATS_URL refers to it, and Kubernetes expands $(VAR) from earlier entries only. */}}
{{- define "forge.env" -}}
{{- $g := .Values.global -}}
{{- $env := dict -}}
{{- if $g.nats.auth.enabled }}
{{- $url := include "forge.natsUrl" . -}}
{{- $scheme := regexFind "^[a-z]+://" $url -}}
{{- $_ := set $env "FORGE_NATS_URL" (dict "value" (printf "%s%s:$(NATS_PASSWORD)@%s" $scheme .Values.service (trimPrefix $scheme $url))) -}}
{{- else }}
{{- $_ := set $env "FORGE_NATS_URL" (dict "value" (include "forge.natsUrl" .)) -}}
{{- end }}
{{- $_ := set $env "FORGE_OPS_HOST" (dict "value" "0.0.0.0") -}}
{{- $_ := set $env "FORGE_OPS_PORT" (dict "value" (toString $g.opsPort)) -}}
{{- $_ := set $env "FORGE_LOG_LEVEL" (dict "value" $g.logLevel) -}}
{{- $_ := set $env "FORGE_LOG_FORMAT" (dict "value" $g.logFormat) -}}
{{- /* Drain in-flight requests on SIGTERM for at most the grace period less 10 s. */ -}}
{{- $_ := set $env "FORGE_DRAIN_TIMEOUT_S" (dict "value" (toString (max 0 (sub (int .Values.terminationGracePeriodSeconds) 10)))) -}}
{{- range $var, $key := .Values.secretEnv }}
{{- $_ := set $env $var (dict "valueFrom" (dict "secretKeyRef" (dict "name" (include "forge.secretName" $) "key" $key))) -}}
{{- end }}
{{- if and .Values.publicUrl $g.publicUrl }}
{{- $_ := set $env "FORGE_PUBLIC_URL" (dict "value" $g.publicUrl) -}}
{{- end }}
{{- if $g.upstreamAllowedNetworks }}
{{- $_ := set $env "FORGE_UPSTREAM_ALLOWED_NETWORKS" (dict "value" $g.upstreamAllowedNetworks) -}}
{{- end }}
{{- if and $g.stdioAllowedCommands (has .Values.service (list "registry" "upstream_proxy")) }}
{{- $_ := set $env "FORGE_STDIO_ALLOWED_COMMANDS" (dict "value" $g.stdioAllowedCommands) -}}
{{- end }}
{{- if .Values.http }}
{{- $_ := set $env "FORGE_EDGE_HOST" (dict "value" "0.0.0.0") -}}
{{- $_ := set $env "FORGE_EDGE_PORT" (dict "value" (toString .Values.http.port)) -}}
{{- if .Values.http.a2aGrpcPort }}
{{- $_ := set $env "FORGE_EDGE_A2A_GRPC_PORT" (dict "value" (toString .Values.http.a2aGrpcPort)) -}}
{{- end }}
{{- end }}
{{- if eq .Values.service "registry" }}
{{- range $db := list "catalog" "identity" }}
{{- $ref := dict "name" (include "forge.pgSecret" (dict "root" $ "db" $db)) "key" (include "forge.pgSecretKey" (dict "root" $ "db" $db)) -}}
{{- $_ := set $env (printf "FORGE_%s_DATABASE_URL" (upper $db)) (dict "valueFrom" (dict "secretKeyRef" $ref)) -}}
{{- end }}
{{- end }}
{{- range $var, $value := $g.env }}
{{- $_ := set $env $var (dict "value" (toString $value)) -}}
{{- end }}
{{- range $var, $value := .Values.env }}
{{- $_ := set $env $var (dict "value" (toString $value)) -}}
{{- end }}
{{- if $g.nats.auth.enabled }}
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "forge.natsAuthSecret" . }}
      key: {{ .Values.service }}
{{- end }}
{{- range $var, $entry := $env }}
- name: {{ $var }}
  {{- toYaml $entry | nindent 2 }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}
