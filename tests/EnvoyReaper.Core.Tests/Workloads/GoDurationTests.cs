using EnvoyReaper.Workloads;

namespace EnvoyReaper.Core.Tests.Workloads;

public sealed class GoDurationTests
{
    [Theory]
    [InlineData("0", 0)]
    [InlineData("0s", 0)]
    [InlineData("500ms", 500)]
    [InlineData("10s", 10_000)]
    [InlineData("10m", 600_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("1m30s", 90_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("1.5h", 5_400_000)]
    [InlineData("2h45m30s500ms", 9_930_500)]
    [InlineData("1.25s", 1_250)]
    [InlineData(" 10m ", 600_000)]
    public void Parses_go_durations(string text, long expectedMilliseconds)
    {
        Assert.True(GoDuration.TryParse(text, out var duration));
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMilliseconds), duration);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("10")]
    [InlineData("ten minutes")]
    [InlineData("m")]
    [InlineData("10 m")]
    [InlineData("1h 30m")]
    [InlineData("-5m")]
    [InlineData("1d")]
    [InlineData("10M")]
    [InlineData("10min")]
    [InlineData("1.2.3s")]
    [InlineData(".s")]
    [InlineData("10m30")]
    [InlineData("PT10M")]
    [InlineData("00:10:00")]
    public void Rejects_text_that_is_not_a_go_duration(string? text)
    {
        Assert.False(GoDuration.TryParse(text, out _));
    }

    [Theory]
    [InlineData(0, "0s")]
    [InlineData(10_000, "10s")]
    [InlineData(600_000, "10m")]
    [InlineData(90_000, "1m30s")]
    [InlineData(3_600_000, "1h")]
    [InlineData(5_400_000, "1h30m")]
    [InlineData(3_630_000, "1h30s")]
    [InlineData(129_600_000, "36h")]
    [InlineData(1_500, "1.5s")]
    public void Formats_durations_as_go_duration_text(long milliseconds, string expected)
    {
        Assert.Equal(expected, GoDuration.Format(TimeSpan.FromMilliseconds(milliseconds)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(500)]
    [InlineData(1_250)]
    [InlineData(59_999)]
    [InlineData(61_500)]
    [InlineData(600_000)]
    [InlineData(5_400_000)]
    [InlineData(86_400_000)]
    [InlineData(90_061_001)]
    public void Format_output_parses_back_to_the_same_duration(long milliseconds)
    {
        var duration = TimeSpan.FromMilliseconds(milliseconds);

        var text = GoDuration.Format(duration);

        Assert.True(GoDuration.TryParse(text, out var parsed), $"'{text}' does not parse");
        Assert.Equal(duration, parsed);
    }
}
