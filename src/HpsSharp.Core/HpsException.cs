namespace HpsSharp.Core;

/// <summary>
/// Base of HpsSharp's domain exceptions: an error in the user's input or environment (a bad file, a missing model,
/// a malformed dataset) that a program should report as a message rather than a crash. Each subclass is sealed
/// and carries the data that names the input and what is wrong.
/// </summary>
public abstract class HpsException : Exception
{
    protected HpsException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}

/// <summary>An input the user gave is invalid (an option value, a path, a file's content).</summary>
public sealed class UserInputException : HpsException
{
    public UserInputException(string input, string reason, Exception? inner = null)
        : base($"{input}: {reason}", inner)
    {
        Input = input;
        Reason = reason;
    }

    /// <summary>The input that is wrong (option, file, field).</summary>
    public string Input { get; }

    /// <summary>What is wrong with it.</summary>
    public string Reason { get; }
}
