using EnvoyReaper.Cli;

return await ReaperCommandLine.InvokeAsync(args);
