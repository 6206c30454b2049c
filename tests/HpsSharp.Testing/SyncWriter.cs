using System.Text;

namespace HpsSharp.Testing;

/// <summary>A string writer safe to read while the service writes to it from other threads.</summary>
public sealed class SyncWriter : TextWriter
{
    private readonly StringBuilder _sb = new();

    public override Encoding Encoding => Encoding.UTF8;

    public string Text
    {
        get
        {
            lock (_sb)
            {
                return _sb.ToString();
            }
        }
    }

    public override void Write(char value)
    {
        lock (_sb)
        {
            _sb.Append(value);
        }
    }

    public override void Write(string? value)
    {
        lock (_sb)
        {
            _sb.Append(value);
        }
    }

    public override void WriteLine(string? value)
    {
        lock (_sb)
        {
            _sb.Append(value).Append('\n');
        }
    }
}
