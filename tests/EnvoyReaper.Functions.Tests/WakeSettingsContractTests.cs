using System.Reflection;

namespace EnvoyReaper.Functions.Tests;

/// <summary>
/// The functions and the waker both read a settings section "Waker" (in different processes). A name they share must mean
/// the same thing with the same default, and no name may differ from the other side's only by a plural.
/// </summary>
public sealed class WakeSettingsContractTests
{
    private static Dictionary<string, object?> Defaults(Type type)
    {
        var instance = Activator.CreateInstance(type)!;
        return type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(property => property.CanWrite)
            .ToDictionary(property => property.Name, property => property.GetValue(instance), StringComparer.Ordinal);
    }

    [Fact]
    public void The_waker_app_and_the_functions_name_the_waker_port_range_alike_with_equal_defaults()
    {
        var functions = Defaults(typeof(Waking.WakerOptions));
        var waker = Defaults(typeof(Waker.WakerOptions));

        var shared = functions.Keys.Intersect(waker.Keys, StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();

        Assert.Equal(["PortRangeEnd", "PortRangeStart"], shared);
        Assert.All(shared, name => Assert.Equal(functions[name], waker[name]));
    }

    [Fact]
    public void No_waker_app_setting_differs_from_a_functions_waker_setting_by_a_plural_only()
    {
        var functions = Defaults(typeof(Waking.WakerOptions)).Keys.ToList();
        var waker = Defaults(typeof(Waker.WakerOptions)).Keys.ToList();

        Assert.DoesNotContain(waker, name => functions.Any(other => name == other + "s" || other == name + "s"));
    }
}
