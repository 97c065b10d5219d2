using EnvoyReaper.Injection;

namespace EnvoyReaper.Core.Tests.Injection;

/// <summary>"deployments": several Deployments of one namespace injected together, validated like "deployment".</summary>
public sealed class InjectionRequestValidatorTests
{
    private static InjectionRequest Request(List<string?>? deployments, string? deployment = null) =>
        new() { Namespace = "shop", Deployment = deployment, Deployments = deployments, AppPort = 9080 };

    [Fact]
    public void Several_deployments_are_valid_and_named_in_order()
    {
        var request = Request(["reviews-v1", "reviews-v2", "reviews-v3"]);

        var errors = InjectionRequestValidator.Validate(request, removal: false, out var valid);

        Assert.Empty(errors);
        Assert.Equal("reviews-v1", valid!.Deployment);
        Assert.Equal(["reviews-v1", "reviews-v2", "reviews-v3"], InjectionRequestValidator.DeploymentNames(request));
    }

    [Fact]
    public void The_single_deployment_form_still_names_one()
    {
        var request = Request(null, "web");

        Assert.Empty(InjectionRequestValidator.Validate(request, removal: false, out _));
        Assert.Equal(["web"], InjectionRequestValidator.DeploymentNames(request));
    }

    public static TheoryData<List<string?>, string?, bool> Invalid => new()
    {
        { ["web"], "web", false },
        { [], null, false },
        { ["web", "web"], null, false },
        { ["web", "Not_A_Name"], null, false },
        { ["web", null], null, false },
        { ["web", "api"], null, true },
        { Enumerable.Range(0, InjectionRequestValidator.MaxDeployments + 1).Select(index => (string?)$"app-{index}").ToList(), null, false },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void An_invalid_list_is_refused_under_deployments(List<string?> deployments, string? deployment, bool removal)
    {
        var errors = InjectionRequestValidator.Validate(Request(deployments, deployment), removal, out var valid);

        Assert.Null(valid);
        Assert.Contains("deployments", errors.Keys);
        Assert.DoesNotContain("deployment", errors.Keys);
    }
}
