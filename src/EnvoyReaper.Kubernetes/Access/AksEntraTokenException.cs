namespace EnvoyReaper.Kubernetes.Access;

/// <summary>
/// No Microsoft Entra token for the AKS server application could be obtained. The request that needed it is not sent:
/// there is no anonymous fallback. The message names the scope and the identity, never a token.
/// </summary>
public sealed class AksEntraTokenException : Exception
{
    public AksEntraTokenException()
    {
    }

    public AksEntraTokenException(string message)
        : base(message)
    {
    }

    public AksEntraTokenException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
