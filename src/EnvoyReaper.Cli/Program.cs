using EnvoyReaper.Cli;

return await ReaperCommandLine.Build().Parse(args).InvokeAsync();
