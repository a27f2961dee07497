{{- define "gameday.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gameday.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
{{- end -}}

{{- define "gameday.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gameday.serviceAccountName" -}}
{{- default (include "gameday.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "gameday.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "gameday.plansConfigMap" -}}
{{- default (printf "%s-plans" (include "gameday.fullname" .)) .Values.existingPlansConfigMap -}}
{{- end -}}

{{- define "gameday.journalNamespace" -}}
{{- default .Release.Namespace .Values.clusterJournal.namespace -}}
{{- end -}}

{{- define "gameday.lockNamespace" -}}
{{- default (include "gameday.journalNamespace" .) .Values.lock.namespace -}}
{{- end -}}

{{- define "gameday.claimName" -}}
{{- default (printf "%s-reports" (include "gameday.fullname" .)) .Values.persistence.existingClaim -}}
{{- end -}}

{{/* The pod of one game day: the same for the CronJob and the one-off Job. */}}
{{- define "gameday.runPod" -}}
metadata:
  labels:
    {{- include "gameday.selectorLabels" . | nindent 4 }}
    app.kubernetes.io/component: game-day
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "gameday.serviceAccountName" . }}
  # Never retried in place either: see backoffLimit.
  restartPolicy: Never
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    seccompProfile:
      type: RuntimeDefault
  {{- if and .Values.persistence.enabled .Values.persistence.fixOwner.enabled }}
  initContainers:
    - name: reports-owner
      image: {{ .Values.persistence.fixOwner.image }}
      command: ["sh", "-c", "chown 65532:65532 /reports && chmod 0755 /reports"]
      securityContext:
        runAsNonRoot: false
        runAsUser: 0
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: [ALL]
          add: [CHOWN, FOWNER]
      volumeMounts:
        - name: reports
          mountPath: /reports
  {{- end }}
  containers:
    - name: gameday
      image: {{ include "gameday.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      # No shell in the image: every plan is named; Kubernetes expands $(VAR).
      args:
        - run
        {{- $files := .Values.planFiles }}
        {{- if not $files }}{{ $files = keys .Values.plans | sortAlpha }}{{ end }}
        {{- range $files }}
        - {{ printf "/plans/%s" . | quote }}
        {{- end }}
        - --report-dir
        - /reports/$(RUN)
        - --history-db
        - /reports/history.db
        {{- if .Values.pushgateway }}
        - --pushgateway
        - $(PUSHGATEWAY)
        {{- end }}
        - --termination-log
        - /dev/termination-log
        {{- if .Values.clusterJournal.enabled }}
        - --cluster-journal
        - {{ include "gameday.journalNamespace" . | quote }}
        - --cluster-journal-ttl
        - {{ .Values.clusterJournal.ttl | quote }}
        {{- end }}
        {{- if .Values.lock.enabled }}
        - --lock-namespace
        - {{ include "gameday.lockNamespace" . | quote }}
        - --lock-wait
        - {{ .Values.lock.wait | quote }}
        - --lock-ttl
        - {{ .Values.lock.ttl | quote }}
        {{- end }}
        {{- range .Values.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      env:
        - name: RUN
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        {{- if .Values.pushgateway }}
        - name: PUSHGATEWAY
          value: {{ .Values.pushgateway | quote }}
        {{- end }}
        {{- if .Values.persistence.enabled }}
        # The fault journal on the volume: it outlives the pod.
        - name: GAMEDAY_STATE_DIR
          value: /reports/state
        {{- end }}
      terminationMessagePath: /dev/termination-log
      # The verdict; when gameday wrote none (a bad plan, exit 2), its log's last lines.
      terminationMessagePolicy: FallbackToLogsOnError
      securityContext:
        allowPrivilegeEscalation: false
        # Without the volume, reports and journal go to the image's own folders.
        readOnlyRootFilesystem: {{ .Values.persistence.enabled }}
        capabilities:
          drop: [ALL]
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: plans
          mountPath: /plans
          readOnly: true
        {{- if .Values.persistence.enabled }}
        - name: reports
          mountPath: /reports
        {{- end }}
  volumes:
    - name: plans
      configMap:
        name: {{ include "gameday.plansConfigMap" . }}
    {{- if .Values.persistence.enabled }}
    - name: reports
      persistentVolumeClaim:
        claimName: {{ include "gameday.claimName" . }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
