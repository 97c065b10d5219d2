using EnvoyReaper.Cluster;

namespace EnvoyReaper.Core.Tests.Cluster;

public sealed class LabelSelectorTests
{
    private static readonly Dictionary<string, string> WebPod = new()
    {
        ["app"] = "web",
        ["tier"] = "frontend",
        ["pod-template-hash"] = "5d8f7c",
    };

    private static LabelSelector Expressions(params LabelRequirement[] requirements) =>
        new(new Dictionary<string, string>(), requirements);

    [Fact]
    public void Match_labels_require_every_key_with_its_value()
    {
        Assert.True(LabelSelector.FromLabels(new Dictionary<string, string> { ["app"] = "web" }).Matches(WebPod));
        Assert.True(LabelSelector.FromLabels(new Dictionary<string, string> { ["app"] = "web", ["tier"] = "frontend" }).Matches(WebPod));
        Assert.False(LabelSelector.FromLabels(new Dictionary<string, string> { ["app"] = "api" }).Matches(WebPod));
        Assert.False(LabelSelector.FromLabels(new Dictionary<string, string> { ["app"] = "web", ["track"] = "canary" }).Matches(WebPod));
    }

    [Fact]
    public void Match_labels_values_are_case_sensitive()
    {
        Assert.False(LabelSelector.FromLabels(new Dictionary<string, string> { ["app"] = "Web" }).Matches(WebPod));
    }

    [Fact]
    public void In_requires_the_key_with_one_of_the_values()
    {
        Assert.True(Expressions(new LabelRequirement("tier", "In", ["backend", "frontend"])).Matches(WebPod));
        Assert.False(Expressions(new LabelRequirement("tier", "In", ["backend"])).Matches(WebPod));
        Assert.False(Expressions(new LabelRequirement("track", "In", ["stable"])).Matches(WebPod));
    }

    [Fact]
    public void NotIn_rejects_the_listed_values_and_accepts_a_missing_key()
    {
        Assert.False(Expressions(new LabelRequirement("tier", "NotIn", ["frontend"])).Matches(WebPod));
        Assert.True(Expressions(new LabelRequirement("tier", "NotIn", ["backend"])).Matches(WebPod));
        Assert.True(Expressions(new LabelRequirement("track", "NotIn", ["canary"])).Matches(WebPod));
    }

    [Fact]
    public void Exists_and_DoesNotExist_look_at_the_key_only()
    {
        Assert.True(Expressions(new LabelRequirement("tier", "Exists", [])).Matches(WebPod));
        Assert.False(Expressions(new LabelRequirement("track", "Exists", [])).Matches(WebPod));
        Assert.True(Expressions(new LabelRequirement("track", "DoesNotExist", [])).Matches(WebPod));
        Assert.False(Expressions(new LabelRequirement("tier", "DoesNotExist", [])).Matches(WebPod));
    }

    [Fact]
    public void Match_labels_and_expressions_must_all_hold()
    {
        var selector = new LabelSelector(
            new Dictionary<string, string> { ["app"] = "web" },
            [new LabelRequirement("tier", "In", ["frontend"]), new LabelRequirement("track", "DoesNotExist", [])]);

        Assert.True(selector.Matches(WebPod));
        Assert.False(selector.Matches(new Dictionary<string, string>(WebPod) { ["track"] = "canary" }));
        Assert.False(selector.Matches(new Dictionary<string, string>(WebPod) { ["app"] = "api" }));
    }

    [Fact]
    public void An_unknown_operator_never_matches()
    {
        Assert.False(Expressions(new LabelRequirement("tier", "Gt", ["1"])).Matches(WebPod));
    }

    [Fact]
    public void ToQueryString_writes_the_api_server_label_selector_syntax()
    {
        var selector = new LabelSelector(
            new Dictionary<string, string> { ["app"] = "web", ["tier"] = "frontend" },
            [
                new LabelRequirement("env", "In", ["prod", "staging"]),
                new LabelRequirement("track", "NotIn", ["canary"]),
                new LabelRequirement("team", "Exists", []),
                new LabelRequirement("legacy", "DoesNotExist", []),
            ]);

        Assert.Equal("app=web,tier=frontend,env in (prod,staging),track notin (canary),team,!legacy", selector.ToQueryString());
    }

    [Fact]
    public void ToQueryString_refuses_an_unknown_operator_rather_than_widening_the_selection()
    {
        Assert.Throws<InvalidOperationException>(() => Expressions(new LabelRequirement("tier", "Gt", ["1"])).ToQueryString());
    }

    [Fact]
    public void IsEmpty_only_without_labels_and_expressions()
    {
        Assert.True(Expressions().IsEmpty);
        Assert.False(LabelSelector.FromLabels(new Dictionary<string, string> { ["app"] = "web" }).IsEmpty);
        Assert.False(Expressions(new LabelRequirement("app", "Exists", [])).IsEmpty);
    }
}
