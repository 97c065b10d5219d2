namespace EnvoyReaper.Storage;

/// <summary>
/// Creates a queue, table or container once per process. A failed attempt (a transient 5xx, a timeout) is not
/// remembered: the next caller tries again instead of failing for the life of the instance.
/// </summary>
internal sealed class CreateOnce(Func<Task> create)
{
    private readonly Lock gate = new();
    private Task? creation;

    public Task EnsureAsync()
    {
        lock (gate)
        {
            if (creation is null || creation.IsFaulted || creation.IsCanceled)
            {
                creation = create();
            }

            return creation;
        }
    }
}
