using EnvoyReaper.Waker;

await WakerApplication.Build(args).RunAsync().ConfigureAwait(false);
