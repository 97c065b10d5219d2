using System.Net;

namespace EnvoyReaper.TestSupport.Envoy;

/// <summary>
/// Hands out distinct loopback addresses in 127.1.0.1 – 127.254.255.254 (Linux routes all of 127.0.0.0/8 to lo), from a
/// random base per process, so that parallel test classes, and most likely parallel test processes, never share one.
/// 127.0.0.0/16 (127.0.0.1 included) is never used. Last octets 0 and 255 are skipped.
/// </summary>
public static class LoopbackAddressAllocator
{
    private static readonly Lock Gate = new();
    private static int _second = Random.Shared.Next(1, 255);
    private static int _third = Random.Shared.Next(0, 256);
    private static int _fourth = Random.Shared.Next(1, 255);

    /// <summary>A loopback address no earlier call in this process returned (until the 16-million-address range wraps).</summary>
    public static IPAddress Allocate()
    {
        lock (Gate)
        {
            var address = new IPAddress(new[] { (byte)127, (byte)_second, (byte)_third, (byte)_fourth });
            if (++_fourth == 255)
            {
                _fourth = 1;
                if (++_third == 256)
                {
                    _third = 0;
                    if (++_second == 255)
                    {
                        _second = 1;
                    }
                }
            }

            return address;
        }
    }
}
