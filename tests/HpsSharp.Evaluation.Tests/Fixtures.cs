using System.Text;
using System.Text.Json;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Parquet;
using Parquet.Schema;

namespace HpsSharp.Evaluation.Tests;

/// <summary>Small datasets in every format, built in a temp folder, with a fake scorer whose μ is set per image.</summary>
internal sealed class Fixtures : IDisposable
{
    private readonly TempDir _dir = TestPaths.TempDir("hps-eval-");

    public string Root => _dir.Path;

    /// <summary>μ of each image, by the image's name in the dataset.</summary>
    public Dictionary<string, double> Mu { get; } = new(StringComparer.Ordinal);

    public string File(string name) => _dir.File(name);

    /// <summary>A fake scorer returning <see cref="Mu"/> (log σ = 0.1), failing images named "*bad*".</summary>
    public FakeScorer Scorer(string name = "fake scorer") => new(r =>
        r.Image.Name.Contains("bad", StringComparison.Ordinal) ? throw new InvalidDataException("undecodable") : new Score(Mu[r.Image.Name], 0.1), name);

    /// <summary>Writes an image file with unique bytes and records its μ.</summary>
    public string Image(string relative, double mu)
    {
        var path = Path.Combine(Root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        System.IO.File.WriteAllText(path, "image " + relative);
        Mu[relative] = mu;
        return relative;
    }

    /// <summary>
    /// An HPDv3 test file: 10 pairs, path1 preferred. 7 correct (one of them in category "animals" with model
    /// pair flux/sdxl), 2 wrong, 1 predicted tie; plus one pair with equal choice_dist (a ground-truth tie).
    /// </summary>
    public string Hpdv3(string name = "test.json")
    {
        var records = new List<object>();
        for (int i = 0; i < 10; i++)
        {
            double a = i < 7 ? 2 : i < 9 ? 0 : 1;
            var p1 = Image($"images/p{i}_1.png", a);
            var p2 = Image($"images/p{i}_2.png", 1);
            records.Add(new { prompt = $"prompt {i}", path1 = p1, path2 = p2, model1 = i % 2 == 0 ? "flux" : "sdxl", model2 = i % 2 == 0 ? "sdxl" : "flux", category = i < 5 ? "animals" : "food" });
        }

        var t1 = Image("images/tie_1.png", 5);
        var t2 = Image("images/tie_2.png", 1);
        records.Add(new { prompt = "tied", path1 = t1, path2 = t2, model1 = "flux", model2 = "sdxl", choice_dist = new[] { 5, 5 }, confidence = (double?)null });
        var path = File(name);
        System.IO.File.WriteAllText(path, JsonSerializer.Serialize(records, new JsonSerializerOptions { WriteIndented = true }));
        return path;
    }

    /// <summary>An ImageRewardDB test file: 2 items of 3 images; see the test for the expected counts.</summary>
    public string ImageReward(string name = "imagereward_test.json")
    {
        var items = new[]
        {
            new { id = "a", prompt = "ir prompt a", generations = new[] { Image("ir/a0.png", 3), Image("ir/a1.png", 2), Image("ir/a2.png", 1) }, ranking = new[] { 1, 2, 3 } },
            new { id = "b", prompt = "ir prompt b", generations = new[] { Image("ir/b0.png", 1), Image("ir/b1.png", 1), Image("ir/b2.png", 5) }, ranking = new[] { 1, 1, 2 } },
        };
        var path = File(name);
        System.IO.File.WriteAllText(path, JsonSerializer.Serialize(items));
        return path;
    }

    /// <summary>An HPDv2 test file with the same content as <see cref="ImageReward"/>.</summary>
    public string Hpdv2(string name = "hpdv2_test.json")
    {
        var items = new[]
        {
            new { prompt = "v2 a", image_path = new[] { Image("v2/a0.png", 3), Image("v2/a1.png", 2), Image("v2/a2.png", 1) }, rank = new[] { 1, 2, 3 } },
            new { prompt = "v2 b", image_path = new[] { Image("v2/b0.png", 1), Image("v2/b1.png", 1), Image("v2/b2.png", 5) }, rank = new[] { 1, 1, 2 } },
        };
        var path = File(name);
        System.IO.File.WriteAllText(path, JsonSerializer.Serialize(items));
        return path;
    }

    /// <summary>A Pick-a-Pic parquet file: row 0 image 0 preferred (model agrees), row 1 image 1 preferred (model agrees), row 2 a tie, row 3 image 0 preferred (model disagrees).</summary>
    public async Task<string> PickapicAsync(string name = "pickapic_test.parquet")
    {
        var caption = new DataField<string>("caption");
        var jpg0 = new DataField<byte[]>("jpg_0");
        var jpg1 = new DataField<byte[]>("jpg_1");
        var label0 = new DataField<double>("label_0");
        var label1 = new DataField<double>("label_1");
        var uid0 = new DataField<string>("image_0_uid");
        var uid1 = new DataField<string>("image_1_uid");
        var schema = new ParquetSchema(caption, jpg0, jpg1, label0, label1, uid0, uid1);
        var rows = new[] { (1.0, 0.0, 4.0, 1.0), (0, 1, 1, 4), (0.5, 0.5, 2, 1), (1, 0, 0, 3) };
        var path = File(name);
        using (var fs = System.IO.File.Create(path))
        {
            await using var writer = await ParquetWriter.CreateAsync(schema, fs);
            using var rg = writer.CreateRowGroup();
            await rg.WriteAsync(caption, rows.Select((_, i) => $"pick {i}").ToArray());
            await rg.WriteAsync(jpg0, rows.Select((_, i) => Encoding.UTF8.GetBytes($"pick {i} image 0")).ToArray());
            await rg.WriteAsync(jpg1, rows.Select((_, i) => Encoding.UTF8.GetBytes($"pick {i} image 1")).ToArray());
            await rg.WriteAsync(label0, (ReadOnlyMemory<double>)rows.Select(r => r.Item1).ToArray());
            await rg.WriteAsync(label1, (ReadOnlyMemory<double>)rows.Select(r => r.Item2).ToArray());
            await rg.WriteAsync(uid0, rows.Select((_, i) => $"uid{i}a").ToArray());
            await rg.WriteAsync(uid1, rows.Select((_, i) => $"uid{i}b").ToArray());
        }

        for (int i = 0; i < rows.Length; i++)
        {
            Mu[$"uid{i}a"] = rows[i].Item3;
            Mu[$"uid{i}b"] = rows[i].Item4;
        }

        return path;
    }

    /// <summary>A JSONL pair file: label 1, label 0 (path2 preferred), label 0.5 (tie).</summary>
    public string JsonlPairs(string name = "pairs.jsonl")
    {
        var lines = new[]
        {
            JsonSerializer.Serialize(new { prompt = "j0", path1 = Image("j/0a.png", 2), path2 = Image("j/0b.png", 1) }),
            "",
            JsonSerializer.Serialize(new { prompt = "j1", path1 = Image("j/1a.png", 2), path2 = Image("j/1b.png", 1), label = 0 }),
            JsonSerializer.Serialize(new { prompt = "j2", path1 = Image("j/2a.png", 2), path2 = Image("j/2b.png", 1), label = 0.5 }),
        };
        var path = File(name);
        System.IO.File.WriteAllLines(path, lines);
        return path;
    }

    /// <summary>A scores file (JSONL) with μ and log σ for every image in <see cref="Mu"/>.</summary>
    public string ScoresFile(string name = "scores.jsonl", Func<string, bool>? include = null)
    {
        var path = File(name);
        System.IO.File.WriteAllLines(path, Mu.Where(kv => include?.Invoke(kv.Key) ?? true).Select(kv => JsonSerializer.Serialize(new { image = kv.Key, mu = kv.Value, log_sigma = 0.1 })));
        return path;
    }

    public void Dispose() => _dir.Dispose();
}
