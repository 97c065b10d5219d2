namespace EnvoyReaper.TestSupport.Envoy;

/// <summary>How a <see cref="FakeEnvoy"/> misbehaves. Assign to <see cref="FakeEnvoy.Fault"/>; takes effect on the next connection or request.</summary>
public abstract record EnvoyFault
{
    private EnvoyFault()
    {
    }

    /// <summary>Answers normally.</summary>
    public static EnvoyFault None { get; } = new NoFault();

    /// <summary>Answers <c>503</c> with Envoy's <c>no healthy upstream</c> body (what a stats listener says when admin is gone).</summary>
    public static EnvoyFault Status503 { get; } = new Status503Fault();

    /// <summary>Answers <c>200</c> with an HTML page (<c>text/html</c>), whatever was asked.</summary>
    public static EnvoyFault Html { get; } = new HtmlFault();

    /// <summary>
    /// Answers <c>200</c> with the requested dump cut about half-way, mid-value, in a well-framed response (the HTTP
    /// layer sees a complete body). For JSON that is truncated JSON; for text and Prometheus a body ending mid-line.
    /// </summary>
    public static EnvoyFault TruncatedJson { get; } = new TruncatedFault();

    /// <summary>Answers <c>200</c> with pseudo-random bytes (invalid UTF-8 included).</summary>
    public static EnvoyFault Garbage { get; } = new GarbageFault();

    /// <summary>
    /// Every TCP connection to the pod's address is reset as soon as it is accepted (SO_LINGER 0 then close, so the
    /// kernel sends RST before any HTTP byte is read): the client sees "connection reset" on its first read or
    /// write. A single Kestrel server cannot stop listening on one of its addresses, so this is a reset, not
    /// ECONNREFUSED; for a true refusal use an address nobody listens on (<see cref="LoopbackAddressAllocator.Allocate"/>).
    /// </summary>
    public static EnvoyFault Refused { get; } = new RefusedFault();

    /// <summary>Waits <paramref name="delay"/> before answering (the wait ends early if the client goes away).</summary>
    public static EnvoyFault Delay(TimeSpan delay) => new DelayFault(delay);

    public sealed record NoFault : EnvoyFault;

    public sealed record Status503Fault : EnvoyFault;

    public sealed record HtmlFault : EnvoyFault;

    public sealed record TruncatedFault : EnvoyFault;

    public sealed record GarbageFault : EnvoyFault;

    public sealed record RefusedFault : EnvoyFault;

    public sealed record DelayFault(TimeSpan Duration) : EnvoyFault;
}
