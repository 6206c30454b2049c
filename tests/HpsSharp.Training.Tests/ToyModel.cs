using System.Globalization;
using HpsSharp.Core.Safetensors;
using HpsSharp.Training.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpsSharp.Training.Tests;

/// <summary>
/// A small generic TorchSharp preference model with HPSv3's parameter names (model.embed_tokens, model.layers,
/// visual.blocks, visual.merger, rm_head) so the trainer machinery is tested without the real model. Its "images"
/// are text files holding three numbers (an RGB colour); prompts are words mapped to token ids, followed by the
/// reward token (id 9).
/// </summary>
internal sealed class ToyRewardModel : nn.Module<ToySide, Tensor>, ITrainableModel<ToySide>
{
    public const long RewardId = 9;
    private readonly ToyDecoder model;
    private readonly ToyVision visual;
    private readonly Sequential rm_head;

    public ToyRewardModel(long seed, ScalarType backbone = ScalarType.Float32)
        : base("toy")
    {
        torch.random.manual_seed(seed);
        model = new ToyDecoder();
        visual = new ToyVision();
        rm_head = nn.Sequential(("0", nn.Linear(8, 16)), ("1", nn.ReLU()), ("2", nn.Dropout(0.05)), ("3", nn.Linear(16, 16)), ("4", nn.ReLU()), ("5", nn.Linear(16, 2)));
        RegisterComponents();
        if (backbone != ScalarType.Float32)
        {
            model.to(backbone);
            visual.to(backbone);
        }
    }

    public nn.Module Module => this;

    public IReadOnlyList<long> RewardRows => new[] { RewardId };

    public int Forwards { get; private set; }

    public Tensor Forward(ToySide batch) => forward(batch);

    public override Tensor forward(ToySide batch)
    {
        using var scope = NewDisposeScope();
        Forwards++;
        var e = model.embed_tokens.forward(batch.Tokens);                 // [B, L, 8]
        var v = visual.merger.forward(visual.blocks.forward(batch.Colors.to(e.dtype)));  // [B, 8]
        var h = e[.., -1] * v + e[.., ..^1].mean(new long[] { 1 });        // reward token mixes with the prompt and image
        h = model.layers.forward(h).tanh();
        return rm_head.forward(h.to(float32)).MoveToOuterDisposeScope();
    }

    public void Save(string folder)
    {
        var entries = new List<SafetensorsWriter.Entry>();
        foreach (var (name, p) in named_parameters())
        {
            using var c = p.detach().to(float32).contiguous();
            var data = c.data<float>().ToArray();
            entries.Add(p.dtype == ScalarType.BFloat16 ? SafetensorsWriter.Entry.FromBFloat16(name, data, c.shape) : SafetensorsWriter.Entry.FromFloat32(name, data, c.shape));
        }

        SafetensorsWriter.Write(Path.Combine(folder, "model.safetensors"), entries);
        File.WriteAllText(Path.Combine(folder, "config.json"), "{\"toy\": true}");
    }

    public void LoadWeights(string folder)
    {
        using var f = SafetensorsFile.Open(Path.Combine(folder, "model.safetensors"));
        using var ng = no_grad();
        foreach (var (name, p) in named_parameters())
        {
            using var t = tensor(f.ReadFloat32(name), p.shape, float32);
            p.copy_(t);
        }
    }

    public Dictionary<string, float[]> Snapshot() =>
        named_parameters().ToDictionary(x => x.name, x => x.parameter.detach().to(float32).data<float>().ToArray());

    private sealed class ToyDecoder : nn.Module
    {
        public readonly Embedding embed_tokens;
        public readonly Linear layers;

        public ToyDecoder()
            : base("model")
        {
            embed_tokens = nn.Embedding(10, 8);
            layers = nn.Linear(8, 8);
            RegisterComponents();
        }
    }

    private sealed class ToyVision : nn.Module
    {
        public readonly Linear blocks;
        public readonly Linear merger;

        public ToyVision()
            : base("visual")
        {
            blocks = nn.Linear(3, 8);
            merger = nn.Linear(8, 8);
            RegisterComponents();
        }
    }
}

internal sealed record ToySide(Tensor Tokens, Tensor Colors) : IDisposable
{
    public void Dispose()
    {
        Tokens.Dispose();
        Colors.Dispose();
    }
}

internal sealed record ToyItem(long[] Tokens, float[] Color);

/// <summary>Reads the toy "images" (three numbers in a text file); anything else is an unreadable image.</summary>
internal sealed class ToyCollator : IPairCollator<ToyItem, ToySide>
{
    private static readonly string[] Words = { "red", "green", "blue" };

    public int Prepared { get; private set; }

    public ToyItem Prepare(string prompt, string imagePath)
    {
        Prepared++;
        var parts = File.ReadAllText(imagePath).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var color = new float[3];
        if (parts.Length != 3 || Enumerable.Range(0, 3).Any(k => !float.TryParse(parts[k], NumberStyles.Float, CultureInfo.InvariantCulture, out color[k])))
        {
            throw new InvalidDataException($"'{imagePath}' is not a toy image");
        }
        var word = Array.IndexOf(Words, prompt.Split(' ')[^1]);
        return new ToyItem(new long[] { 4, 1 + Math.Max(0, word), ToyRewardModel.RewardId }, color);
    }

    public ToySide Collate(IReadOnlyList<ToyItem> items) =>
        new(tensor(items.SelectMany(i => i.Tokens).ToArray(), new long[] { items.Count, 3 }),
            tensor(items.SelectMany(i => i.Color).ToArray(), new long[] { items.Count, 3 }));
}

/// <summary>Writes a toy colour-matching preference task: the preferred image's dominant colour is the prompt's word.</summary>
internal static class ToyTask
{
    public static (string Train, string Eval) Write(string dir, int trainPairs, int evalPairs, int seed, double labelNoise = 0, double ambiguous = 0, string prefix = "")
    {
        var rng = new Random(seed);
        string Pairs(string name, int n, bool noisy)
        {
            var lines = new List<string>();
            for (int i = 0; i < n; i++)
            {
                int w = rng.Next(3);
                int other = rng.NextDouble() < ambiguous ? w : (w + 1 + rng.Next(2)) % 3;
                string good = Img(dir, $"{prefix}{name}-{i}-a", w, rng);
                string bad = Img(dir, $"{prefix}{name}-{i}-b", other, rng);
                if (noisy && rng.NextDouble() < labelNoise)
                {
                    (good, bad) = (bad, good);
                }

                var words = new[] { "red", "green", "blue" };
                lines.Add($"{{\"prompt\": \"a photo mostly {words[w]}\", \"path1\": \"{good}\", \"path2\": \"{bad}\", \"confidence\": 0.99}}");
            }

            var path = Path.Combine(dir, prefix + name + ".jsonl");
            File.WriteAllLines(path, lines);
            return path;
        }

        return (Pairs("train", trainPairs, true), Pairs("eval", evalPairs, false));
    }

    private static string Img(string dir, string name, int dominant, Random rng)
    {
        var c = new double[3];
        for (int k = 0; k < 3; k++)
        {
            c[k] = rng.NextDouble() * 0.4;
        }

        c[dominant] = 0.6 + rng.NextDouble() * 0.4;
        var file = name + ".txt";
        File.WriteAllText(Path.Combine(dir, file), string.Join(' ', c.Select(v => v.ToString("F4", CultureInfo.InvariantCulture))));
        return file;
    }
}
