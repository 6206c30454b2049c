using System.Text.Json;
using HpsSharp.Testing;

namespace HpsSharp.Annotation.Tests;

/// <summary>A temporary annotation project: images (copies of the shared sample photos), a pairs file, a gold file, a database path.</summary>
internal sealed class Workspace : IDisposable
{
    private static readonly string[] Photos = ["coins.png", "text.png", "camera.png", "rocket.jpg", "chelsea.png", "retina.jpg"];
    private readonly TempDir _dir = new("hps-annotate-");

    public Workspace(int pairs = 6, int gold = 2)
    {
        Images = Path.Combine(_dir.Path, "images");
        Directory.CreateDirectory(Path.Combine(Images, "sub"));
        var names = new List<string>();
        for (int i = 0; i < Photos.Length; i++)
        {
            // One photo in a subfolder, to check that image URLs keep the path relative to the root.
            string name = i == 3 ? "sub/" + Photos[i] : Photos[i];
            System.IO.File.Copy(TestPaths.Image(Photos[i]), Path.Combine(Images, name));
            names.Add(name);
        }

        PairRecords = [.. Enumerable.Range(0, pairs).Select(i => new PairRecord($"prompt {i}: a photo", names[i % names.Count], names[(i + 1) % names.Count], $"m{i % 2}", $"m{(i + 1) % 2}"))];
        GoldRecords = [.. Enumerable.Range(0, gold).Select(i => new PairRecord($"gold prompt {i}", names[(i + 2) % names.Count], names[(i + 4) % names.Count], null, null))];
        PairsFile = Write("pairs.json", PairRecords);
        GoldFile = Write("gold.json", GoldRecords);
        Db = Path.Combine(_dir.Path, "labels.sqlite");
    }

    public string Path0 => _dir.Path;

    public string Images { get; }

    public string PairsFile { get; }

    public string GoldFile { get; }

    public string Db { get; }

    public IReadOnlyList<PairRecord> PairRecords { get; }

    public IReadOnlyList<PairRecord> GoldRecords { get; }

    public string File(string name) => _dir.File(name);

    public AnnotationAppOptions Options(bool withGold = true, double goldRate = 0.25) => new()
    {
        PairsFile = PairsFile,
        ImagesRoot = Images,
        Database = Db,
        GoldFile = withGold ? GoldFile : null,
        GoldRate = goldRate,
        Urls = ["http://127.0.0.1:0"],
        Seed = 7,
    };

    /// <summary>Opens the database with the workspace's pairs (and gold pairs) added.</summary>
    public AnnotationStore OpenStore(bool withGold = true)
    {
        var store = AnnotationStore.Open(Db, create: true);
        store.AddPairs(PairFile.Load(PairsFile, Images, gold: false), PairsFile);
        if (withGold)
        {
            store.AddPairs(PairFile.Load(GoldFile, Images, gold: true), GoldFile);
        }

        return store;
    }

    public void Dispose() => _dir.Dispose();

    private string Write(string name, IReadOnlyList<PairRecord> records)
    {
        string path = _dir.File(name);
        System.IO.File.WriteAllText(path, JsonSerializer.Serialize(records.Select(r => new { prompt = r.Prompt, path1 = r.Path1, path2 = r.Path2, model1 = r.Model1, model2 = r.Model2 })));
        return path;
    }
}

internal sealed record PairRecord(string Prompt, string Path1, string Path2, string? Model1, string? Model2);
