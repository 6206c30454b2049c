using HpsSharp.Core.Data;
using Parquet;
using Parquet.Schema;

namespace HpsSharp.Evaluation.Data;

/// <summary>One Pick-a-Pic comparison: two encoded images and their labels (1/0, 0/1, or 0.5/0.5 for a tie).</summary>
/// <param name="Row">0-based row in the file.</param>
/// <param name="Caption">The prompt.</param>
/// <param name="Jpg0">Encoded image 0.</param>
/// <param name="Jpg1">Encoded image 1.</param>
/// <param name="Label0">Label of image 0.</param>
/// <param name="Label1">Label of image 1.</param>
/// <param name="Uid0">Image 0's uid (<c>image_0_uid</c>) when the file has it.</param>
/// <param name="Uid1">Image 1's uid.</param>
public sealed record PickapicPair(long Row, string Caption, byte[] Jpg0, byte[] Jpg1, double Label0, double Label1, string? Uid0, string? Uid1)
{
    /// <summary>True when humans judged a tie (both labels 0.5).</summary>
    public bool IsTie => Label0 == 0.5 && Label1 == 0.5;
}

/// <summary>
/// Reads Pick-a-Pic parquet files (columns <c>caption</c>, <c>jpg_0</c>, <c>jpg_1</c>, <c>label_0</c>,
/// <c>label_1</c>, optional <c>image_0_uid</c>, <c>image_1_uid</c>) one row group at a time, so memory is bounded by
/// the largest row group.
/// </summary>
public static class PickapicParquetReader
{
    private static readonly string[] Required = ["caption", "jpg_0", "jpg_1", "label_0", "label_1"];

    /// <summary>Streams the rows of <paramref name="path"/>.</summary>
    /// <exception cref="DatasetFormatException">A column is missing or has the wrong type, or a row is invalid (names the row).</exception>
    public static IEnumerable<PickapicPair> Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"dataset file '{path}' does not exist", path);
        }

        return ReadIterator(path);
    }

    private static IEnumerable<PickapicPair> ReadIterator(string path)
    {
        using var stream = File.OpenRead(path);
        ParquetReader reader;
        try
        {
            reader = ParquetReader.CreateAsync(stream).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or NotSupportedException or ArgumentException or InvalidOperationException)
        {
            throw new DatasetFormatException(path, 0, "not a readable Parquet file: " + ex.Message, "row", ex);
        }

        try
        {
            var fields = reader.Schema.GetDataFields().ToDictionary(f => f.Name, StringComparer.Ordinal);
            foreach (var name in Required)
            {
                if (!fields.ContainsKey(name))
                {
                    throw new DatasetFormatException(path, 0, $"column '{name}' is missing (found: {string.Join(", ", fields.Keys)})", "row");
                }
            }

            long rowBase = 0;
            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                using var rg = reader.OpenRowGroupReader(g);
                int n = checked((int)rg.RowCount);
                var caption = Strings(rg, fields["caption"], n, path, rowBase);
                var jpg0 = Bytes(rg, fields["jpg_0"], n, path, rowBase);
                var jpg1 = Bytes(rg, fields["jpg_1"], n, path, rowBase);
                var label0 = Numbers(rg, fields["label_0"], n, path, rowBase);
                var label1 = Numbers(rg, fields["label_1"], n, path, rowBase);
                var uid0 = fields.TryGetValue("image_0_uid", out var u0) ? Strings(rg, u0, n, path, rowBase) : null;
                var uid1 = fields.TryGetValue("image_1_uid", out var u1) ? Strings(rg, u1, n, path, rowBase) : null;
                for (int i = 0; i < n; i++)
                {
                    long row = rowBase + i;
                    string? Need(string? v, string column) => v ?? throw new DatasetFormatException(path, row, $"'{column}' is null", "row");
                    byte[] NeedBytes(byte[]? v, string column) => v is { Length: > 0 } ? v : throw new DatasetFormatException(path, row, $"'{column}' is null or empty", "row");
                    double l0 = label0[i] ?? throw new DatasetFormatException(path, row, "'label_0' is null", "row");
                    double l1 = label1[i] ?? throw new DatasetFormatException(path, row, "'label_1' is null", "row");
                    if (!((l0 == 1 && l1 == 0) || (l0 == 0 && l1 == 1) || (l0 == 0.5 && l1 == 0.5)))
                    {
                        throw new DatasetFormatException(path, row, $"labels must be 1/0, 0/1 or 0.5/0.5, found label_0 = {l0}, label_1 = {l1}", "row");
                    }

                    yield return new PickapicPair(row, Need(caption[i], "caption")!, NeedBytes(jpg0[i], "jpg_0"), NeedBytes(jpg1[i], "jpg_1"), l0, l1, uid0?[i], uid1?[i]);
                }

                rowBase += n;
            }
        }
        finally
        {
            reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private static string?[] Strings(ParquetRowGroupReader rg, DataField field, int n, string path, long rowBase)
    {
        if (field.ClrType != typeof(string) && field.ClrType != typeof(ReadOnlyMemory<char>))
        {
            throw new DatasetFormatException(path, rowBase, $"column '{field.Name}' must hold strings, it holds {field.ClrType.Name}", "row");
        }

        var values = new string?[n];
        rg.ReadAsync(field, values.AsMemory()).AsTask().GetAwaiter().GetResult();
        return values;
    }

    private static byte[]?[] Bytes(ParquetRowGroupReader rg, DataField field, int n, string path, long rowBase)
    {
        if (field.ClrType != typeof(byte[]) && field.ClrType != typeof(ReadOnlyMemory<byte>))
        {
            throw new DatasetFormatException(path, rowBase, $"column '{field.Name}' must hold binary image data, it holds {field.ClrType.Name}", "row");
        }

        var values = new byte[]?[n];
        rg.ReadAsync(field, values.AsMemory()).AsTask().GetAwaiter().GetResult();
        return values;
    }

    private static double?[] Numbers(ParquetRowGroupReader rg, DataField field, int n, string path, long rowBase)
    {
        var result = new double?[n];
        if (field.ClrType == typeof(double))
        {
            if (field.IsNullable)
            {
                rg.ReadAsync(field, result.AsMemory()).AsTask().GetAwaiter().GetResult();
            }
            else
            {
                var v = new double[n];
                rg.ReadAsync(field, v.AsMemory()).AsTask().GetAwaiter().GetResult();
                for (int i = 0; i < n; i++)
                {
                    result[i] = v[i];
                }
            }
        }
        else if (field.ClrType == typeof(float))
        {
            var v = new float?[n];
            if (field.IsNullable)
            {
                rg.ReadAsync(field, v.AsMemory()).AsTask().GetAwaiter().GetResult();
            }
            else
            {
                var w = new float[n];
                rg.ReadAsync(field, w.AsMemory()).AsTask().GetAwaiter().GetResult();
                for (int i = 0; i < n; i++)
                {
                    v[i] = w[i];
                }
            }

            for (int i = 0; i < n; i++)
            {
                result[i] = v[i];
            }
        }
        else
        {
            throw new DatasetFormatException(path, rowBase, $"column '{field.Name}' must hold numbers (double or float), it holds {field.ClrType.Name}", "row");
        }

        return result;
    }
}
