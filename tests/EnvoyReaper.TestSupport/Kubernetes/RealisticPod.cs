using System.Globalization;
using System.Text.Json.Nodes;

namespace EnvoyReaper.TestSupport.Kubernetes;

/// <summary>How much of a pod the seeder writes.</summary>
public enum PodShape
{
    /// <summary>What the reaper reads and little more: labels, owner, containers, phase, IP, conditions, container statuses.</summary>
    Minimal,

    /// <summary>
    /// A pod as `kubectl get pod -o json` shows a Deployment's pod on a current cluster (1.30+): managedFields of the
    /// ReplicaSet controller and the kubelet, the admission-defaulted spec (resources, probes, security contexts, the
    /// projected service-account volume, the default tolerations), and the kubelet's full status. About 9 KB of JSON.
    /// </summary>
    Realistic,
}

/// <summary>The JSON of a realistic Deployment pod (app container + Envoy sidecar), modelled on a real one.</summary>
public static class RealisticPod
{
    /// <param name="restartCount">Restarts of each container; the last run then started 10 minutes after the pod.</param>
    public static JsonObject Build(string @namespace, string podName, string ip, IDictionary<string, string> appLabels, string hash, string ownerName, string ownerUid, bool ready, DateTime created, int restartCount = 0)
    {
        var app = appLabels["app"];
        var suffix = podName[(podName.LastIndexOf('-') + 1)..];
        var node = $"aks-userpool-{Math.Abs(StableHash(podName)) % 40:D2}-vmss0000{Math.Abs(StableHash(podName)) % 10}";
        var nodeIp = $"10.224.0.{(Math.Abs(StableHash(node)) % 250) + 4}";
        var volume = "kube-api-access-" + suffix[..Math.Min(5, suffix.Length)].PadRight(5, 'x');
        var at = Time(created);
        var started = Time(restartCount == 0 ? created.AddSeconds(2) : created.AddMinutes(10));
        var readyAt = Time(created.AddSeconds(6));
        var readyStatus = ready ? "True" : "False";
        var labels = new JsonObject();
        foreach (var (key, value) in appLabels)
        {
            labels[key] = value;
        }

        labels["pod-template-hash"] = hash;
        var labelFields = new JsonObject { ["."] = new JsonObject() };
        foreach (var key in labels.Select(pair => pair.Key))
        {
            labelFields[$"f:{key}"] = new JsonObject();
        }

        var appImage = "registry.example.com/team/" + app + ":1.42.3";
        const string envoyImage = "envoyproxy/envoy:v1.34.1";
        return new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Pod",
            ["metadata"] = new JsonObject
            {
                ["annotations"] = new JsonObject
                {
                    ["kubectl.kubernetes.io/restartedAt"] = Time(created.AddMinutes(-3)),
                    ["prometheus.io/port"] = "15090",
                    ["prometheus.io/scrape"] = "true",
                },
                ["creationTimestamp"] = at,
                ["generateName"] = $"{ownerName}-",
                ["labels"] = labels,
                ["managedFields"] = new JsonArray
                {
                    new JsonObject
                    {
                        ["apiVersion"] = "v1",
                        ["fieldsType"] = "FieldsV1",
                        ["fieldsV1"] = new JsonObject
                        {
                            ["f:metadata"] = new JsonObject
                            {
                                ["f:annotations"] = new JsonObject { ["."] = new JsonObject(), ["f:kubectl.kubernetes.io/restartedAt"] = new JsonObject(), ["f:prometheus.io/port"] = new JsonObject(), ["f:prometheus.io/scrape"] = new JsonObject() },
                                ["f:generateName"] = new JsonObject(),
                                ["f:labels"] = labelFields,
                                ["f:ownerReferences"] = new JsonObject { ["."] = new JsonObject(), [$"k:{{\"uid\":\"{ownerUid}\"}}"] = new JsonObject() },
                            },
                            ["f:spec"] = new JsonObject
                            {
                                ["f:containers"] = new JsonObject
                                {
                                    [$"k:{{\"name\":\"{app}\"}}"] = ContainerFields(withEnv: true),
                                    ["k:{\"name\":\"envoy\"}"] = ContainerFields(withEnv: false),
                                },
                                ["f:dnsPolicy"] = new JsonObject(),
                                ["f:enableServiceLinks"] = new JsonObject(),
                                ["f:restartPolicy"] = new JsonObject(),
                                ["f:schedulerName"] = new JsonObject(),
                                ["f:securityContext"] = new JsonObject { ["."] = new JsonObject(), ["f:fsGroup"] = new JsonObject(), ["f:runAsNonRoot"] = new JsonObject(), ["f:seccompProfile"] = new JsonObject { ["."] = new JsonObject(), ["f:type"] = new JsonObject() } },
                                ["f:terminationGracePeriodSeconds"] = new JsonObject(),
                                ["f:volumes"] = new JsonObject { ["."] = new JsonObject(), ["k:{\"name\":\"envoy-config\"}"] = new JsonObject { ["."] = new JsonObject(), ["f:configMap"] = new JsonObject { ["."] = new JsonObject(), ["f:defaultMode"] = new JsonObject(), ["f:name"] = new JsonObject() }, ["f:name"] = new JsonObject() } },
                            },
                        },
                        ["manager"] = "kube-controller-manager",
                        ["operation"] = "Update",
                        ["time"] = at,
                    },
                    new JsonObject
                    {
                        ["apiVersion"] = "v1",
                        ["fieldsType"] = "FieldsV1",
                        ["fieldsV1"] = new JsonObject
                        {
                            ["f:status"] = new JsonObject
                            {
                                ["f:conditions"] = new JsonObject
                                {
                                    ["k:{\"type\":\"ContainersReady\"}"] = ConditionFields(),
                                    ["k:{\"type\":\"Initialized\"}"] = ConditionFields(),
                                    ["k:{\"type\":\"PodReadyToStartContainers\"}"] = ConditionFields(),
                                    ["k:{\"type\":\"Ready\"}"] = ConditionFields(),
                                },
                                ["f:containerStatuses"] = new JsonObject(),
                                ["f:hostIP"] = new JsonObject(),
                                ["f:hostIPs"] = new JsonObject(),
                                ["f:phase"] = new JsonObject(),
                                ["f:podIP"] = new JsonObject(),
                                ["f:podIPs"] = new JsonObject { ["."] = new JsonObject(), [$"k:{{\"ip\":\"{ip}\"}}"] = new JsonObject { ["."] = new JsonObject(), ["f:ip"] = new JsonObject() } },
                                ["f:startTime"] = new JsonObject(),
                            },
                        },
                        ["manager"] = "kubelet",
                        ["operation"] = "Update",
                        ["subresource"] = "status",
                        ["time"] = readyAt,
                    },
                },
                ["name"] = podName,
                ["namespace"] = @namespace,
                ["ownerReferences"] = new JsonArray
                {
                    new JsonObject
                    {
                        ["apiVersion"] = "apps/v1",
                        ["blockOwnerDeletion"] = true,
                        ["controller"] = true,
                        ["kind"] = "ReplicaSet",
                        ["name"] = ownerName,
                        ["uid"] = ownerUid,
                    },
                },
            },
            ["spec"] = new JsonObject
            {
                ["containers"] = new JsonArray
                {
                    AppContainer(app, appImage, volume),
                    EnvoyContainer(envoyImage, volume),
                },
                ["dnsPolicy"] = "ClusterFirst",
                ["enableServiceLinks"] = true,
                ["nodeName"] = node,
                ["preemptionPolicy"] = "PreemptLowerPriority",
                ["priority"] = 0,
                ["restartPolicy"] = "Always",
                ["schedulerName"] = "default-scheduler",
                ["securityContext"] = new JsonObject { ["fsGroup"] = 10001, ["runAsNonRoot"] = true, ["seccompProfile"] = new JsonObject { ["type"] = "RuntimeDefault" } },
                ["serviceAccount"] = "default",
                ["serviceAccountName"] = "default",
                ["terminationGracePeriodSeconds"] = 30,
                ["tolerations"] = new JsonArray
                {
                    new JsonObject { ["effect"] = "NoExecute", ["key"] = "node.kubernetes.io/not-ready", ["operator"] = "Exists", ["tolerationSeconds"] = 300 },
                    new JsonObject { ["effect"] = "NoExecute", ["key"] = "node.kubernetes.io/unreachable", ["operator"] = "Exists", ["tolerationSeconds"] = 300 },
                },
                ["volumes"] = new JsonArray
                {
                    new JsonObject { ["configMap"] = new JsonObject { ["defaultMode"] = 420, ["name"] = "envoy-sidecar-config" }, ["name"] = "envoy-config" },
                    new JsonObject
                    {
                        ["name"] = volume,
                        ["projected"] = new JsonObject
                        {
                            ["defaultMode"] = 420,
                            ["sources"] = new JsonArray
                            {
                                new JsonObject { ["serviceAccountToken"] = new JsonObject { ["expirationSeconds"] = 3607, ["path"] = "token" } },
                                new JsonObject { ["configMap"] = new JsonObject { ["items"] = new JsonArray { new JsonObject { ["key"] = "ca.crt", ["path"] = "ca.crt" } }, ["name"] = "kube-root-ca.crt" } },
                                new JsonObject { ["downwardAPI"] = new JsonObject { ["items"] = new JsonArray { new JsonObject { ["fieldRef"] = new JsonObject { ["apiVersion"] = "v1", ["fieldPath"] = "metadata.namespace" }, ["path"] = "namespace" } } } },
                            },
                        },
                    },
                },
            },
            ["status"] = new JsonObject
            {
                ["conditions"] = new JsonArray
                {
                    Condition("PodReadyToStartContainers", "True", readyAt),
                    Condition("Initialized", "True", at),
                    Condition("Ready", readyStatus, readyAt),
                    Condition("ContainersReady", readyStatus, readyAt),
                    Condition("PodScheduled", "True", at),
                },
                ["containerStatuses"] = new JsonArray
                {
                    ContainerStatus(app, appImage, podName, ready, restartCount, started, volume),
                    ContainerStatus("envoy", envoyImage, podName, ready, restartCount, started, volume),
                },
                ["hostIP"] = nodeIp,
                ["hostIPs"] = new JsonArray { new JsonObject { ["ip"] = nodeIp } },
                ["phase"] = "Running",
                ["podIP"] = ip,
                ["podIPs"] = new JsonArray { new JsonObject { ["ip"] = ip } },
                ["qosClass"] = "Burstable",
                ["startTime"] = at,
            },
        };
    }

    private static JsonObject AppContainer(string app, string image, string volume) => new()
    {
        ["env"] = new JsonArray
        {
            new JsonObject { ["name"] = "ASPNETCORE_URLS", ["value"] = "http://+:8080" },
            new JsonObject { ["name"] = "OTEL_SERVICE_NAME", ["value"] = app },
            new JsonObject { ["name"] = "POD_NAME", ["valueFrom"] = new JsonObject { ["fieldRef"] = new JsonObject { ["apiVersion"] = "v1", ["fieldPath"] = "metadata.name" } } },
            new JsonObject { ["name"] = "POD_IP", ["valueFrom"] = new JsonObject { ["fieldRef"] = new JsonObject { ["apiVersion"] = "v1", ["fieldPath"] = "status.podIP" } } },
        },
        ["image"] = image,
        ["imagePullPolicy"] = "IfNotPresent",
        ["livenessProbe"] = Probe("/healthz", 8080),
        ["name"] = app,
        ["ports"] = new JsonArray { new JsonObject { ["containerPort"] = 8080, ["name"] = "http", ["protocol"] = "TCP" } },
        ["readinessProbe"] = Probe("/ready", 8080),
        ["resources"] = new JsonObject
        {
            ["limits"] = new JsonObject { ["memory"] = "512Mi" },
            ["requests"] = new JsonObject { ["cpu"] = "250m", ["memory"] = "256Mi" },
        },
        ["securityContext"] = new JsonObject
        {
            ["allowPrivilegeEscalation"] = false,
            ["capabilities"] = new JsonObject { ["drop"] = new JsonArray { "ALL" } },
            ["readOnlyRootFilesystem"] = true,
            ["runAsUser"] = 10001,
        },
        ["terminationMessagePath"] = "/dev/termination-log",
        ["terminationMessagePolicy"] = "File",
        ["volumeMounts"] = new JsonArray { new JsonObject { ["mountPath"] = "/var/run/secrets/kubernetes.io/serviceaccount", ["name"] = volume, ["readOnly"] = true } },
    };

    private static JsonObject EnvoyContainer(string image, string volume) => new()
    {
        ["args"] = new JsonArray { "-c", "/etc/envoy/envoy.yaml", "--service-cluster", "sidecar", "--log-level", "warn" },
        ["image"] = image,
        ["imagePullPolicy"] = "IfNotPresent",
        ["name"] = "envoy",
        ["ports"] = new JsonArray
        {
            new JsonObject { ["containerPort"] = 15001, ["name"] = "proxy", ["protocol"] = "TCP" },
            new JsonObject { ["containerPort"] = 15090, ["name"] = "admin", ["protocol"] = "TCP" },
        },
        ["readinessProbe"] = Probe("/ready", 15090),
        ["resources"] = new JsonObject
        {
            ["limits"] = new JsonObject { ["memory"] = "128Mi" },
            ["requests"] = new JsonObject { ["cpu"] = "50m", ["memory"] = "64Mi" },
        },
        ["securityContext"] = new JsonObject
        {
            ["allowPrivilegeEscalation"] = false,
            ["capabilities"] = new JsonObject { ["drop"] = new JsonArray { "ALL" } },
            ["runAsUser"] = 101,
        },
        ["terminationMessagePath"] = "/dev/termination-log",
        ["terminationMessagePolicy"] = "File",
        ["volumeMounts"] = new JsonArray
        {
            new JsonObject { ["mountPath"] = "/etc/envoy", ["name"] = "envoy-config", ["readOnly"] = true },
            new JsonObject { ["mountPath"] = "/var/run/secrets/kubernetes.io/serviceaccount", ["name"] = volume, ["readOnly"] = true },
        },
    };

    private static JsonObject Probe(string path, int port) => new()
    {
        ["failureThreshold"] = 3,
        ["httpGet"] = new JsonObject { ["path"] = path, ["port"] = port, ["scheme"] = "HTTP" },
        ["periodSeconds"] = 10,
        ["successThreshold"] = 1,
        ["timeoutSeconds"] = 1,
    };

    private static JsonObject ContainerFields(bool withEnv)
    {
        var fields = new JsonObject
        {
            ["."] = new JsonObject(),
            ["f:image"] = new JsonObject(),
            ["f:imagePullPolicy"] = new JsonObject(),
            ["f:name"] = new JsonObject(),
            ["f:ports"] = new JsonObject { ["."] = new JsonObject() },
            ["f:readinessProbe"] = new JsonObject { ["."] = new JsonObject(), ["f:failureThreshold"] = new JsonObject(), ["f:httpGet"] = new JsonObject { ["."] = new JsonObject(), ["f:path"] = new JsonObject(), ["f:port"] = new JsonObject(), ["f:scheme"] = new JsonObject() }, ["f:periodSeconds"] = new JsonObject(), ["f:successThreshold"] = new JsonObject(), ["f:timeoutSeconds"] = new JsonObject() },
            ["f:resources"] = new JsonObject { ["."] = new JsonObject(), ["f:limits"] = new JsonObject { ["."] = new JsonObject(), ["f:memory"] = new JsonObject() }, ["f:requests"] = new JsonObject { ["."] = new JsonObject(), ["f:cpu"] = new JsonObject(), ["f:memory"] = new JsonObject() } },
            ["f:securityContext"] = new JsonObject { ["."] = new JsonObject(), ["f:allowPrivilegeEscalation"] = new JsonObject(), ["f:capabilities"] = new JsonObject { ["."] = new JsonObject(), ["f:drop"] = new JsonObject() }, ["f:runAsUser"] = new JsonObject() },
            ["f:terminationMessagePath"] = new JsonObject(),
            ["f:terminationMessagePolicy"] = new JsonObject(),
            ["f:volumeMounts"] = new JsonObject { ["."] = new JsonObject() },
        };
        if (withEnv)
        {
            fields["f:env"] = new JsonObject
            {
                ["."] = new JsonObject(),
                ["k:{\"name\":\"ASPNETCORE_URLS\"}"] = new JsonObject { ["."] = new JsonObject(), ["f:name"] = new JsonObject(), ["f:value"] = new JsonObject() },
                ["k:{\"name\":\"OTEL_SERVICE_NAME\"}"] = new JsonObject { ["."] = new JsonObject(), ["f:name"] = new JsonObject(), ["f:value"] = new JsonObject() },
                ["k:{\"name\":\"POD_IP\"}"] = new JsonObject { ["."] = new JsonObject(), ["f:name"] = new JsonObject(), ["f:valueFrom"] = new JsonObject { ["."] = new JsonObject(), ["f:fieldRef"] = new JsonObject() } },
                ["k:{\"name\":\"POD_NAME\"}"] = new JsonObject { ["."] = new JsonObject(), ["f:name"] = new JsonObject(), ["f:valueFrom"] = new JsonObject { ["."] = new JsonObject(), ["f:fieldRef"] = new JsonObject() } },
            };
            fields["f:livenessProbe"] = new JsonObject { ["."] = new JsonObject(), ["f:failureThreshold"] = new JsonObject(), ["f:httpGet"] = new JsonObject { ["."] = new JsonObject(), ["f:path"] = new JsonObject(), ["f:port"] = new JsonObject(), ["f:scheme"] = new JsonObject() }, ["f:periodSeconds"] = new JsonObject(), ["f:successThreshold"] = new JsonObject(), ["f:timeoutSeconds"] = new JsonObject() };
        }

        return fields;
    }

    private static JsonObject ConditionFields() => new()
    {
        ["."] = new JsonObject(),
        ["f:lastProbeTime"] = new JsonObject(),
        ["f:lastTransitionTime"] = new JsonObject(),
        ["f:status"] = new JsonObject(),
        ["f:type"] = new JsonObject(),
    };

    private static JsonObject Condition(string type, string status, string at) => new()
    {
        ["lastProbeTime"] = null,
        ["lastTransitionTime"] = at,
        ["status"] = status,
        ["type"] = type,
    };

    private static JsonObject ContainerStatus(string name, string image, string podName, bool ready, int restartCount, string startedAt, string volume) => new()
    {
        ["allocatedResources"] = new JsonObject { ["cpu"] = name == "envoy" ? "50m" : "250m", ["memory"] = name == "envoy" ? "64Mi" : "256Mi" },
        ["containerID"] = "containerd://" + Hex($"{podName}/{name}/{restartCount}"),
        ["image"] = image,
        ["imageID"] = image.Split(':')[0] + "@sha256:" + Hex(image),
        ["lastState"] = restartCount == 0
            ? new JsonObject()
            : new JsonObject { ["terminated"] = new JsonObject { ["containerID"] = "containerd://" + Hex($"{podName}/{name}/{restartCount - 1}"), ["exitCode"] = 139, ["finishedAt"] = startedAt, ["reason"] = "Error", ["startedAt"] = startedAt } },
        ["name"] = name,
        ["ready"] = ready,
        ["resources"] = new JsonObject
        {
            ["limits"] = new JsonObject { ["memory"] = name == "envoy" ? "128Mi" : "512Mi" },
            ["requests"] = new JsonObject { ["cpu"] = name == "envoy" ? "50m" : "250m", ["memory"] = name == "envoy" ? "64Mi" : "256Mi" },
        },
        ["restartCount"] = restartCount,
        ["started"] = true,
        ["state"] = new JsonObject { ["running"] = new JsonObject { ["startedAt"] = startedAt } },
        ["user"] = new JsonObject { ["linux"] = new JsonObject { ["gid"] = 10001, ["supplementalGroups"] = new JsonArray { 10001 }, ["uid"] = name == "envoy" ? 101 : 10001 } },
        ["volumeMounts"] = new JsonArray { new JsonObject { ["mountPath"] = "/var/run/secrets/kubernetes.io/serviceaccount", ["name"] = volume, ["readOnly"] = true, ["recursiveReadOnly"] = "Disabled" } },
    };

    private static string Time(DateTime value) => DateTime.SpecifyKind(value, DateTimeKind.Utc).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static string Hex(string text) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)));

    private static int StableHash(string text)
    {
        var hash = 17;
        foreach (var character in text)
        {
            hash = unchecked((hash * 31) + character);
        }

        return hash == int.MinValue ? 0 : hash;
    }
}
