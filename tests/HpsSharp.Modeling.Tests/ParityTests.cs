using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Tests;

/// <summary>
/// The model against the hpsv3-tiny goldens of the independent reference, intermediate by intermediate, from the
/// fixture's own input_ids and pixel_values (tolerances from the fixture README).
/// </summary>
[Trait("Category", "Model")]
public sealed class ParityTests(TinyFixture tiny, ITestOutputHelper output) : IClassFixture<TinyFixture>
{
    public static TheoryData<string> Cases() => new(TinyFixture.Cases);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Fp32MatchesEveryIntermediate(string id)
    {
        using var f = TinyFixture.Expected(id);
        using var batch = TinyFixture.SingleBatch(f);
        using var trace = new ForwardTrace();
        using var mode = inference_mode();
        using var result = tiny.Model("fp32").Forward(batch, trace);
        long used = f.ReadInt64("reward_index")[0] + 1;   // the sequence stops at <|Reward|>

        void Check(string name, double atol, long? rows = null, Tensor? actual = null)
        {
            var info = f[name + ".fp32"];
            var expected = f.ReadFloat32(name + ".fp32");
            var shape = info.Shape.ToArray();
            if (rows is { } r)
            {
                expected = expected.Take((int)(r * shape[1])).ToArray();
                shape[0] = r;
            }

            var a = actual ?? trace[name];
            a = a.reshape(shape);
            TensorAssert.Close(expected, shape, a, 0, atol, $"{id} {name} fp32");
            output.WriteLine($"{id} {name}: max |diff| {TensorAssert.MaxAbsDiff(expected, a):G3}");
        }

        Check("text_inv_freq", 0);
        Check("vision_inv_freq", 0);
        Check("vision_rope_cos", 1e-6);
        Check("vision_rope_sin", 1e-6);
        Check("text_rope_cos", 1e-6, used);
        Check("text_rope_sin", 1e-6, used);
        Check("patch_embeds", 1e-4);
        Check("vision_pre_merger", 1e-4);
        Check("vision_embeds", 1e-4);
        Check("layer_hidden_at_reward", 1e-4);
        Check("final_hidden", 1e-4, used);
        Check("hidden_at_reward", 1e-4);
        Check("head_out", 1e-4, actual: result);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Bf16MatchesTheReleasedRunWithinTheFixtureTolerance(string id)
    {
        using var f = TinyFixture.Expected(id);
        using var batch = TinyFixture.SingleBatch(f);
        using var trace = new ForwardTrace();
        using var mode = inference_mode();
        using var result = tiny.Model("bf16").Forward(batch, trace);
        long used = f.ReadInt64("reward_index")[0] + 1;

        void Check(string name, double atol, double rtol = 0, long? rows = null, Tensor? actual = null)
        {
            var shape = f[name + ".bf16"].Shape.ToArray();
            var expected = f.ReadFloat32(name + ".bf16");
            if (rows is { } r)
            {
                expected = expected.Take((int)(r * shape[1])).ToArray();
                shape[0] = r;
            }

            var a = (actual ?? trace[name]).reshape(shape);
            TensorAssert.Close(expected, shape, a, rtol, atol, $"{id} {name} bf16");
            output.WriteLine($"{id} {name}: max |diff| {TensorAssert.MaxAbsDiff(expected, a):G3}");
        }

        // model.to(bfloat16) rounds the RoPE inverse frequencies: pinned exactly.
        Check("text_inv_freq", 0);
        Check("vision_inv_freq", 0);
        // one bf16 ulp (2^-8 relative; values ≤ 1 → atol 2^-8) — a 1-ulp libm difference may flip a rounding.
        Check("vision_rope_cos", 1.0 / 256);
        Check("vision_rope_sin", 1.0 / 256);
        Check("text_rope_cos", 1.0 / 256, rows: used);
        Check("text_rope_sin", 1.0 / 256, rows: used);
        Check("hidden_at_reward", 0.08);
        Check("head_out", 0.1, actual: result);
    }

    [Theory]
    [InlineData("fp32", 1e-4, 1e-5)]
    [InlineData("bf16", 0.1, 0.05)]
    public void RightPaddedBatchEqualsOneByOne(string mode, double goldenTol, double singleTol)
    {
        using var f = TinyFixture.Expected("batch");
        var members = new[] { "rocket", "chelsea", "coins" };
        var pixels = new List<float>();
        foreach (var m in members)
        {
            using var e = TinyFixture.Expected(m);
            pixels.AddRange(e.ReadFloat32("pixel_values"));
        }

        var ids = f.ReadInt64("input_ids");
        var shape = f["input_ids"].Shape;
        using var batch = new Hpsv3Batch(
            tensor(ids, shape),
            tensor(f.ReadInt64("attention_mask"), shape),
            tensor(pixels.ToArray(), [pixels.Count / 1176, 1176]),
            tensor(f.ReadInt64("image_grid_thw"), [3, 3]),
            tensor(f.ReadInt64("reward_index"), [3]));
        using var inference = inference_mode();
        using var result = tiny.Model(mode).forward(batch);
        TensorAssert.Close(f.ReadFloat32($"head_out.{mode}"), [3, 2], result, 0, goldenTol, $"batch head_out {mode}");

        for (int i = 0; i < members.Length; i++)
        {
            using var e = TinyFixture.Expected(members[i]);
            using var single = TinyFixture.SingleBatch(e);
            using var one = tiny.Model(mode).forward(single);
            using var row = result[i].unsqueeze(0);
            using var oneCpu = one.cpu();
            TensorAssert.Close(oneCpu.data<float>().ToArray(), [1, 2], row, 0, singleTol, $"batch row {i} ({members[i]}) vs single, {mode}");
        }
    }
}
