{{/* The six services, in start order (libs/devstack WRIT_SERVICES). */}}
{{- define "writ.services" -}}ledger budget policy executor planner gateway{{- end -}}

{{/* Services that may run several instances (libs/devstack MAX_REPLICAS > 1): scaled on lag. */}}
{{- define "writ.scalable" -}}gateway planner policy{{- end -}}

{{- define "writ.labels" -}}
app.kubernetes.io/name: writ
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "writ.selector" -}}
app.kubernetes.io/name: writ
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .service }}
{{- end -}}

{{- define "writ.fullname" -}}{{ printf "%s-%s" .root.Release.Name .service | trunc 52 | trimSuffix "-" }}{{- end -}}

{{- define "writ.bootstrap" -}}
{{- if .Values.kafka.enabled -}}{{ printf "%s-kafka-bootstrap:9092" .Values.kafka.clusterName }}{{- else -}}{{ required "kafka.bootstrap is required when kafka.enabled is false" .Values.kafka.bootstrap }}{{- end -}}
{{- end -}}

{{- define "writ.topology" -}}{{ .Files.Get "files/topology.json" }}{{- end -}}
{{- define "writ.acls" -}}{{ .Files.Get "files/acls.json" }}{{- end -}}

{{/* Partitions of a topic under these values: its own count, else kafka.partitions, else the file's default. */}}
{{- define "writ.partitions" -}}
{{- $topo := fromJson (include "writ.topology" .root) -}}
{{- if hasKey .topic "partitions" -}}{{ .topic.partitions }}{{- else if .root.Values.kafka.partitions -}}{{ .root.Values.kafka.partitions }}{{- else -}}{{ $topo.defaults.partitions }}{{- end -}}
{{- end -}}

{{/* The signing key file of a service (the name ensureDevKeys gives it), empty for gateway and planner. */}}
{{- define "writ.keyFile" -}}
{{- $files := dict "policy" "warrant-1.pem" "budget" "reservation-1.pem" "ledger" "ledger-1.pem" "executor" "tool-token-1.pem" -}}
{{- get $files . -}}
{{- end -}}
{{- define "writ.keyVariable" -}}
{{- $vars := dict "policy" "WRIT_POLICY_SIGNING_KEY" "budget" "WRIT_BUDGET_SIGNING_KEY" "ledger" "WRIT_LEDGER_SIGNING_KEY" "executor" "WRIT_EXECUTOR_TOKEN_SIGNING_KEY" -}}
{{- get $vars . -}}
{{- end -}}
