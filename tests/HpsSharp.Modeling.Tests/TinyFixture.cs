using HpsSharp.Core;
using HpsSharp.Core.Safetensors;
using HpsSharp.Testing;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Tests;

/// <summary>The hpsv3-tiny fixture: its checkpoint folder, goldens and the models loaded once per test run.</summary>
public sealed class TinyFixture : IDisposable
{
    private readonly Lazy<Hpsv3Model> _fp32;
    private readonly Lazy<Hpsv3Model> _bf16;

    public TinyFixture()
    {
        _fp32 = new Lazy<Hpsv3Model>(() => Hpsv3Model.Load(ModelDir, new ModelLoadOptions(Precision.Fp32)));
        _bf16 = new Lazy<Hpsv3Model>(() => Hpsv3Model.Load(ModelDir, new ModelLoadOptions(Precision.Bf16)));
    }

    public static string ModelDir => TestPaths.Fixture("hpsv3-tiny");

    public static readonly string[] Cases = ["chelsea", "coins", "rocket"];

    public Hpsv3Model Model(string mode) => mode == "fp32" ? _fp32.Value : _bf16.Value;

    public static SafetensorsFile Expected(string id) => SafetensorsFile.Open(Path.Combine(ModelDir, $"expected_{id}.safetensors"));

    /// <summary>The batch of one fixture case, from its own input_ids and pixel_values (no tokenizer, no image code).</summary>
    public static Hpsv3Batch SingleBatch(SafetensorsFile f)
    {
        var ids = f.ReadInt64("input_ids");
        var pixels = f.ReadFloat32("pixel_values");
        var grid = f.ReadInt64("image_grid_thw");
        var reward = f.ReadInt64("reward_index");
        return new Hpsv3Batch(
            tensor(ids, [1, ids.Length]),
            ones([1, ids.Length], ScalarType.Int64),
            tensor(pixels, f["pixel_values"].Shape),
            tensor(grid, [1, 3]),
            tensor(reward, [1]));
    }

    public void Dispose()
    {
        if (_fp32.IsValueCreated)
        {
            _fp32.Value.Dispose();
        }

        if (_bf16.IsValueCreated)
        {
            _bf16.Value.Dispose();
        }
    }
}
