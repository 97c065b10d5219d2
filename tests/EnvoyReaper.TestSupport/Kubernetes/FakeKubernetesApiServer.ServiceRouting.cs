using System.Text.Json.Nodes;

namespace EnvoyReaper.TestSupport.Kubernetes;

public sealed partial class FakeKubernetesApiServer
{
    /// <summary>
    /// Where a Service's traffic goes, as kube-proxy computes it from every EndpointSlice labelled
    /// <c>kubernetes.io/service-name</c>: for a Service with a selector the EndpointSlice controller
    /// (<c>endpointslice-controller.k8s.io</c>) keeps slices of its ready, non-terminating pods, and it never touches a slice
    /// another manager owns; kube-proxy routes to the ready endpoints of both. The controller's slices are derived here on
    /// read rather than stored, so they never show up in the API or in a test's request count.
    /// </summary>
    /// <returns>"address:port" per Service port name ("" for an unnamed port), sorted.</returns>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> RoutedEndpoints(string ns, string service)
    {
        var routes = new Dictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        void Add(string port, string address) => (routes.TryGetValue(port, out var set) ? set : routes[port] = new SortedSet<string>(StringComparer.Ordinal)).Add(address);

        var serviceObject = Get("", "v1", "services", ns, service);
        if (serviceObject is null)
        {
            return new Dictionary<string, IReadOnlyList<string>>();
        }

        if (serviceObject["spec"]?["selector"] is JsonObject { Count: > 0 } selector)
        {
            foreach (var pod in List("", "v1", "pods", ns))
            {
                var labels = pod["metadata"]?["labels"] as JsonObject;
                var ready = (pod["status"]?["conditions"] as JsonArray ?? []).Any(condition => condition?["type"]?.GetValue<string>() == "Ready" && condition["status"]?.GetValue<string>() == "True");
                if (!ready || pod["metadata"]?["deletionTimestamp"] is not null || pod["status"]?["podIP"]?.GetValue<string>() is not { } ip
                    || !selector.All(pair => labels?[pair.Key]?.GetValue<string>() == pair.Value?.GetValue<string>()))
                {
                    continue;
                }

                foreach (var port in serviceObject["spec"]?["ports"] as JsonArray ?? [])
                {
                    var target = port?["targetPort"] is JsonValue value && value.TryGetValue<int>(out var number) ? number : port?["port"]?.GetValue<int>() ?? 0;
                    Add(port?["name"]?.GetValue<string>() ?? string.Empty, $"{ip}:{target}");
                }
            }
        }

        foreach (var slice in List("discovery.k8s.io", "v1", "endpointslices", ns)
                     .Where(slice => slice["metadata"]?["labels"]?["kubernetes.io/service-name"]?.GetValue<string>() == service))
        {
            foreach (var endpoint in slice["endpoints"] as JsonArray ?? [])
            {
                if (endpoint?["conditions"]?["ready"]?.GetValue<bool>() == false)
                {
                    continue; // nil means ready
                }

                foreach (var port in slice["ports"] as JsonArray ?? [])
                {
                    foreach (var address in endpoint?["addresses"] as JsonArray ?? [])
                    {
                        Add(port?["name"]?.GetValue<string>() ?? string.Empty, $"{address!.GetValue<string>()}:{port?["port"]?.GetValue<int>()}");
                    }
                }
            }
        }

        return routes.ToDictionary(pair => pair.Key, pair => (IReadOnlyList<string>)pair.Value.ToList(), StringComparer.Ordinal);
    }
}
