using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using HpsSharp.Core.Safetensors;
using HpsSharp.Modeling;
using static TorchSharp.torch;

namespace HpsSharp.ModelBench;

/// <summary>The shapes of a synthetic checkpoint and its config.json.</summary>
internal sealed record CheckpointSpec(string Name, Hpsv3Dimensions Dims, int VisionHeads, bool TiedEmbeddings)
{
    /// <summary>HPSv3 as released (Qwen2-VL-7B-Instruct; lm_head stored, 16.6 GB).</summary>
    public static CheckpointSpec Released7B { get; } = new("7b", Hpsv3Dimensions.Released7B, 16, TiedEmbeddings: false);

    /// <summary>The Qwen2-VL-2B shapes (docs/model.md) with the HPSv3 vocabulary and head; embeddings tied (no lm_head).</summary>
    public static CheckpointSpec Qwen2VL2B { get; } = new("2b", new Hpsv3Dimensions(1536, 28, 12, 2, 8960, 151658, 32, 1280, 4), 16, TiedEmbeddings: true);

    public IReadOnlyList<SafetensorsWriter.Header> Headers()
    {
        var table = Hpsv3Layout.ExpectedTensors(Dims).ToList();
        if (!TiedEmbeddings)
        {
            table.Add(new Hpsv3ExpectedTensor("lm_head.weight", [Dims.VocabSize, Dims.HiddenSize], Hpsv3TensorRole.Backbone));
        }

        return table.Select(t => new SafetensorsWriter.Header(t.Name, t.Role == Hpsv3TensorRole.RewardHead ? SafetensorsDtype.F32 : SafetensorsDtype.BF16, t.Shape)).ToList();
    }

    public string ConfigJson()
    {
        var d = Dims;
        var config = new Dictionary<string, object>
        {
            ["architectures"] = new[] { "Qwen2VLForConditionalGeneration" },
            ["model_type"] = "qwen2_vl",
            ["hidden_size"] = d.HiddenSize,
            ["num_hidden_layers"] = d.NumLayers,
            ["num_attention_heads"] = d.NumHeads,
            ["num_key_value_heads"] = d.NumKeyValueHeads,
            ["intermediate_size"] = d.IntermediateSize,
            ["vocab_size"] = d.VocabSize,
            ["rms_norm_eps"] = 1e-6,
            ["rope_theta"] = 1e6,
            ["hidden_act"] = "silu",
            ["tie_word_embeddings"] = TiedEmbeddings,
            ["torch_dtype"] = "bfloat16",
            ["rope_scaling"] = new Dictionary<string, object> { ["type"] = "mrope", ["mrope_section"] = new[] { 16, 24, 24 } },
            ["vision_config"] = new Dictionary<string, object>
            {
                ["depth"] = d.VisionDepth, ["embed_dim"] = d.VisionEmbedDim, ["num_heads"] = VisionHeads, ["mlp_ratio"] = d.VisionMlpRatio,
                ["hidden_size"] = d.HiddenSize, ["in_chans"] = 3, ["patch_size"] = 14, ["spatial_merge_size"] = 2, ["temporal_patch_size"] = 2,
            },
            ["hpsv3"] = new Dictionary<string, object> { ["note"] = $"random weights for benchmarks (HpsSharp.ModelBench {Name}); not a real model" },
        };
        return JsonSerializer.Serialize(config, new JsonSerializerOptions { WriteIndented = true });
    }
}

/// <summary>Writes a random-weight checkpoint in bounded memory, or reuses one whose header already matches.</summary>
internal static class RandomCheckpoint
{
    public static void Ensure(string dir, CheckpointSpec spec)
    {
        Directory.CreateDirectory(dir);
        var weights = Path.Combine(dir, "model.safetensors");
        var configPath = Path.Combine(dir, "config.json");
        var headers = spec.Headers();
        long bytes = headers.Sum(h => h.ByteLength);
        if (Matches(weights, headers))
        {
            Console.WriteLine($"reusing {weights} ({bytes / 1e9:F2} GB, header matches)");
        }
        else
        {
            var free = new DriveInfo(Path.GetFullPath(dir)).AvailableFreeSpace;
            if (free < bytes + 10_000_000_000L)
            {
                throw new IOException($"{dir}: {free / 1e9:F1} GB free, the {spec.Name} checkpoint needs {bytes / 1e9:F1} GB and 10 GB must stay free");
            }

            var watch = Stopwatch.StartNew();
            Write(weights, headers);
            Console.WriteLine($"wrote {weights} ({bytes / 1e9:F2} GB) in {watch.Elapsed.TotalSeconds:F0} s");
        }

        var tmp = configPath + ".tmp";
        File.WriteAllText(tmp, spec.ConfigJson());
        File.Move(tmp, configPath, overwrite: true);
    }

    private static bool Matches(string path, IReadOnlyList<SafetensorsWriter.Header> headers)
    {
        if (!File.Exists(path))
        {
            return false;
        }

        try
        {
            using var file = SafetensorsFile.Open(path);
            return file.Tensors.Count == headers.Count
                && headers.All(h => file.Contains(h.Name) && file[h.Name].Dtype == h.Dtype && file[h.Name].Shape.SequenceEqual(h.Shape))
                && file.FileLength == file.DataOffset + headers.Sum(h => h.ByteLength);
        }
        catch (SafetensorsException)
        {
            return false;
        }
    }

    /// <summary>
    /// Norm weights 1, biases 0, everything else uniform with standard deviation 0.02 (so activations stay finite).
    /// To write 16.6 GB at disk speed the bf16 values come from a 16 MiB random pool, read from a random offset per
    /// 1 MiB chunk — the weights are random enough for timing and memory, not for statistics.
    /// </summary>
    private static void Write(string path, IReadOnlyList<SafetensorsWriter.Header> headers)
    {
        const int poolValues = 8 << 20;
        const int chunkValues = 512 << 10;
        const double halfWidth = 0.02 * 1.7320508075688772; // uniform(−a, a) has std a/√3
        var rng = new Random(20251126);
        var pool = new byte[poolValues * 2];
        for (int i = 0; i < poolValues; i++)
        {
            BitConverter.TryWriteBytes(pool.AsSpan(i * 2), SafetensorsDtypes.FloatToBFloat16((float)((rng.NextDouble() * 2 - 1) * halfWidth)));
        }

        var one = new byte[chunkValues * 2];
        var oneBf16 = SafetensorsDtypes.FloatToBFloat16(1f);
        for (int i = 0; i < chunkValues; i++)
        {
            BitConverter.TryWriteBytes(one.AsSpan(i * 2), oneBf16);
        }

        var zero = new byte[chunkValues * 4];
        SafetensorsWriter.WriteStreaming(path, headers, (index, stream) =>
        {
            var h = headers[index];
            long n = h.Shape.Aggregate(1L, (a, b) => a * b);
            bool ones = h.Name.Contains("norm", StringComparison.Ordinal) || h.Name.Contains("ln_q.weight", StringComparison.Ordinal);
            bool zeros = h.Name.EndsWith(".bias", StringComparison.Ordinal) && !h.Name.StartsWith("rm_head", StringComparison.Ordinal);
            if (h.Dtype == SafetensorsDtype.F32)
            {
                var buffer = new byte[n * 4];
                for (long k = 0; k < n; k++)
                {
                    BitConverter.TryWriteBytes(buffer.AsSpan((int)(k * 4)), (float)((rng.NextDouble() * 2 - 1) * halfWidth));
                }

                stream.Write(buffer);
                return;
            }

            for (long done = 0; done < n;)
            {
                int count = (int)Math.Min(n - done, chunkValues);
                if (ones)
                {
                    stream.Write(one, 0, count * 2);
                }
                else if (zeros)
                {
                    stream.Write(zero, 0, count * 2);
                }
                else
                {
                    int offset = rng.Next(0, poolValues - count);
                    stream.Write(pool, offset * 2, count * 2);
                }

                done += count;
            }
        });
    }
}

/// <summary>Analytic FLOPs of one HPSv3 forward (2 per multiply-add): every linear layer at its own token count, plus attention's QKᵀ and AV (full L×L, as computed).</summary>
internal sealed record Flops(double DecoderLinear, double DecoderAttention, double VisionLinear, double VisionAttention, double Merger, double Head)
{
    public double Total => DecoderLinear + DecoderAttention + VisionLinear + VisionAttention + Merger + Head;

    public static Flops Forward(Qwen2VLConfig c, int tokens, int patches, int imageTokens)
    {
        double h = c.HiddenSize, kv = (double)c.NumKeyValueHeads * c.HeadDim, ffn = c.IntermediateSize;
        double layerParams = (h * h) + (2 * kv * h) + (h * h) + (3 * ffn * h);
        double decoderLinear = 2.0 * layerParams * tokens * c.NumHiddenLayers;
        double decoderAttention = 2.0 * 2.0 * tokens * (double)tokens * h * c.NumHiddenLayers;

        var v = c.VisionConfig;
        double e = v.EmbedDim, m = (double)v.EmbedDim * v.MlpRatio;
        double blockParams = (3 * e * e) + (e * e) + (2 * e * m);
        double patchEmbed = 2.0 * e * (v.InChans * v.TemporalPatchSize * v.PatchSize * v.PatchSize) * patches;
        double visionLinear = patchEmbed + (2.0 * blockParams * patches * v.Depth);
        double visionAttention = 2.0 * 2.0 * patches * (double)patches * e * v.Depth;
        double merged = e * v.SpatialMergeSize * v.SpatialMergeSize;
        double merger = 2.0 * ((merged * merged) + (v.HiddenSize * merged)) * imageTokens;
        double head = 2.0 * ((1024 * h) + (16 * 1024) + (2 * 16));
        return new Flops(decoderLinear, decoderAttention, visionLinear, visionAttention, merger, head);
    }
}

