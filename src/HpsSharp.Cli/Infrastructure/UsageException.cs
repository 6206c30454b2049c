namespace HpsSharp.Cli.Infrastructure;

/// <summary>
/// A usage error found after parsing (a missing or contradictory option that only the command's logic can see):
/// printed like a parse error, with exit code 2.
/// </summary>
public sealed class UsageException : Exception
{
    public UsageException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }

    public UsageException()
    {
    }

    public UsageException(string message)
        : base(message)
    {
    }
}
