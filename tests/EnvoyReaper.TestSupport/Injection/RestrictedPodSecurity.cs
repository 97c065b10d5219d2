using k8s.Models;

namespace EnvoyReaper.TestSupport.Injection;

/// <summary>
/// The Pod Security Standards' "restricted" profile (which includes "baseline"), written out as the rules a pod spec
/// is checked against (kubernetes.io/docs/concepts/security/pod-security-standards), for every container and init
/// container.
/// </summary>
public static class RestrictedPodSecurity
{
    private static readonly HashSet<string> AllowedVolumeSources =
        ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"];

    public static IReadOnlyList<string> Violations(V1PodSpec pod)
    {
        var violations = new List<string>();
        if (pod.HostNetwork == true || pod.HostPID == true || pod.HostIPC == true)
        {
            violations.Add("host namespaces");
        }

        foreach (var volume in pod.Volumes ?? [])
        {
            var sources = k8s.KubernetesJson.Serialize(volume);
            var kinds = System.Text.Json.JsonDocument.Parse(sources).RootElement.EnumerateObject()
                .Select(property => property.Name).Where(name => name != "name").ToList();
            if (kinds.Any(kind => !AllowedVolumeSources.Contains(kind)))
            {
                violations.Add($"volume {volume.Name}: type {string.Join(",", kinds)} is not allowed");
            }
        }

        var podContext = pod.SecurityContext;
        if (podContext?.RunAsUser == 0)
        {
            violations.Add("pod runAsUser 0");
        }

        var podSeccomp = podContext?.SeccompProfile?.Type;
        if (podSeccomp is not null and not "RuntimeDefault" and not "Localhost")
        {
            violations.Add($"pod seccompProfile {podSeccomp}");
        }

        foreach (var container in (pod.Containers ?? []).Concat(pod.InitContainers ?? []))
        {
            var context = container.SecurityContext;
            string Where(string rule) => $"container {container.Name}: {rule}";
            if (context?.Privileged == true)
            {
                violations.Add(Where("privileged"));
            }

            if (context?.AllowPrivilegeEscalation != false)
            {
                violations.Add(Where("allowPrivilegeEscalation must be false"));
            }

            if (context?.Capabilities?.Drop?.Contains("ALL") != true)
            {
                violations.Add(Where("capabilities.drop must include ALL"));
            }

            if (context?.Capabilities?.Add?.Any(capability => capability != "NET_BIND_SERVICE") == true)
            {
                violations.Add(Where("only NET_BIND_SERVICE may be added"));
            }

            var runAsNonRoot = context?.RunAsNonRoot ?? podContext?.RunAsNonRoot;
            if (runAsNonRoot != true)
            {
                violations.Add(Where("runAsNonRoot must be true (pod or container)"));
            }

            if (context?.RunAsUser == 0)
            {
                violations.Add(Where("runAsUser 0"));
            }

            var seccomp = context?.SeccompProfile?.Type ?? podSeccomp;
            if (seccomp is not ("RuntimeDefault" or "Localhost"))
            {
                violations.Add(Where("seccompProfile must be RuntimeDefault or Localhost (pod or container)"));
            }

            if ((container.Ports ?? []).Any(port => port.HostPort is > 0))
            {
                violations.Add(Where("hostPort"));
            }
        }

        return violations;
    }
}
