using System.Globalization;
using System.Text.Encodings.Web;

namespace EnvoyReaper.Waker;

/// <summary>The page a browser gets while its workload wakes: it reloads itself until the workload answers instead.</summary>
public static class WakePage
{
    public static string Render(ParkedWorkload workload, int refreshSeconds)
    {
        ArgumentNullException.ThrowIfNull(workload);
        var encoder = HtmlEncoder.Default;
        var name = encoder.Encode(workload.Deployment);
        var @namespace = encoder.Encode(workload.Namespace);
        var refresh = refreshSeconds.ToString(CultureInfo.InvariantCulture);
        return $$"""
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta http-equiv="refresh" content="{{refresh}}">
            <meta name="robots" content="noindex">
            <title>Waking up {{name}}…</title>
            <style>body{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}</style>
            </head>
            <body>
            <h1>Waking up {{name}}…</h1>
            <p>{{name}} (namespace {{@namespace}}) was stopped while nobody used it. It is starting again; this page reloads every {{refresh}} seconds and shows it once it is ready.</p>
            </body>
            </html>
            """;
    }
}
