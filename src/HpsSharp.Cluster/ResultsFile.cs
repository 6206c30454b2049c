using System.Text;
using System.Text.Json;
using HpsSharp.Cluster.Grains;
using HpsSharp.Core;
using HpsSharp.Core.Scoring.Contracts;

namespace HpsSharp.Cluster;

/// <summary>
/// The <c>--out</c> JSONL file of a cluster job: one line per item, each carrying its <c>index</c>. Lines are appended
/// whole (one write, then flushed to disk), so a crash leaves at most one torn last line, which is cut off on the
/// next open; the indices already present are remembered so a resumed run writes every index exactly once. When the
/// job is complete the file is rewritten in index order through a temporary file and an atomic rename.
/// </summary>
public sealed class ResultsFile : IDisposable
{
    private readonly FileStream _stream;
    private readonly HashSet<int> _written = [];

    private ResultsFile(string path, FileStream stream)
    {
        Path = path;
        _stream = stream;
    }

    /// <summary>The output path.</summary>
    public string Path { get; }

    /// <summary>Indices already in the file.</summary>
    public IReadOnlySet<int> Written => _written;

    /// <summary>Opens (or creates) the file, keeps its complete lines and cuts a torn last line.</summary>
    /// <param name="path">The JSONL output file.</param>
    /// <param name="total">Items in the job: an index at or beyond it means the file belongs to another manifest.</param>
    public static ResultsFile Open(string path, int total)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (dir is not null && !Directory.Exists(dir))
        {
            throw UserInputException.ForOption(nameof(JobSubmission.OutPath), $"folder not found: {dir}");
        }

        var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        var file = new ResultsFile(path, stream);
        try
        {
            file.Load(total);
        }
        catch
        {
            stream.Dispose();
            throw;
        }

        return file;
    }

    /// <summary>Appends the item unless its index is already written; returns whether it wrote.</summary>
    public bool Append(FinishedItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        if (!_written.Add(item.Index))
        {
            return false;
        }

        var line = Line(item);
        _stream.Write(line);
        _stream.Flush(flushToDisk: true);
        return true;
    }

    /// <summary>Rewrites the file sorted by index (atomic replace). The last call on this object: nothing is appended after it.</summary>
    public void SortByIndex()
    {
        _stream.Flush(flushToDisk: true);
        _stream.Position = 0;
        var lines = new List<(int Index, string Line)>();
        using (var reader = new StreamReader(_stream, Encoding.UTF8, false, 1 << 16, leaveOpen: true))
        {
            string? l;
            while ((l = reader.ReadLine()) is not null)
            {
                if (l.Length > 0)
                {
                    lines.Add((IndexOf(l, 0), l));
                }
            }
        }

        _stream.Seek(0, SeekOrigin.End);
        if (lines.Select(x => x.Index).SequenceEqual(lines.Select(x => x.Index).Order()))
        {
            return;
        }

        var tmp = Path + ".tmp-" + Environment.ProcessId;
        using (var w = new StreamWriter(tmp, false, new UTF8Encoding(false)))
        {
            foreach (var (_, line) in lines.OrderBy(x => x.Index))
            {
                w.Write(line);
                w.Write('\n');
            }

            w.Flush();
            ((FileStream)w.BaseStream).Flush(flushToDisk: true);
        }

        File.Move(tmp, Path, overwrite: true);
    }

    /// <summary>The JSON line for a finished item (no line break inside; ends with one).</summary>
    /// <remarks>A non-finite μ or log σ is an error for that item, never a number (JSON cannot hold one).</remarks>
    public static byte[] Line(FinishedItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        bool scored = item.Error is null && item.Mu is { } mu && item.LogSigma is { } ls;
        bool finite = scored && double.IsFinite(item.Mu!.Value) && double.IsFinite(item.LogSigma!.Value);
        var line = new ClusterResultLine
        {
            Index = item.Index,
            Prompt = item.Prompt,
            Image = item.Image,
            Mu = finite ? item.Mu : null,
            LogSigma = finite ? item.LogSigma : null,
            Sigma = finite ? Math.Exp(item.LogSigma!.Value) : null,
            Error = finite ? null : scored ? "the model returned a non-finite score" : item.Error ?? "no result",
            Worker = item.Worker,
        };
        var bytes = JsonSerializer.SerializeToUtf8Bytes(line, ContractJson.Compact.ClusterResultLine);
        return [.. bytes, (byte)'\n'];
    }

    /// <inheritdoc/>
    public void Dispose() => _stream.Dispose();

    private void Load(int total)
    {
        var bytes = new byte[_stream.Length];
        _stream.ReadExactly(bytes);
        int lastNewline = Array.LastIndexOf(bytes, (byte)'\n');
        long keep = lastNewline + 1;
        var text = Encoding.UTF8.GetString(bytes, 0, (int)keep);
        int lineNo = 0;
        foreach (var line in text.Split('\n'))
        {
            lineNo++;
            if (line.Length == 0)
            {
                continue;
            }

            int index = IndexOf(line, lineNo);
            if (index >= total)
            {
                throw UserInputException.ForInput($"{Path}:{lineNo}", $"index {index} is beyond the manifest's {total} items; this {new OptionField(nameof(JobSubmission.OutPath))} file belongs to another manifest");
            }

            if (!_written.Add(index))
            {
                throw new UserInputException($"{Path}:{lineNo}", $"index {index} appears twice; this file was not written by one cluster job");
            }
        }

        if (keep < bytes.Length)
        {
            // A torn last line from a crash mid-write: its item is not recorded, so it is written again below.
            _stream.SetLength(keep);
        }

        _stream.Seek(0, SeekOrigin.End);
    }

    private int IndexOf(string line, int lineNo)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("index", out var i) && i.TryGetInt32(out var index) && index >= 0)
            {
                return index;
            }
        }
        catch (JsonException)
        {
        }

        throw UserInputException.ForInput($"{Path}:{lineNo}", $"not a line of a cluster job's output (a JSON object with \"index\"); use another {new OptionField(nameof(JobSubmission.OutPath))} file");
    }
}
