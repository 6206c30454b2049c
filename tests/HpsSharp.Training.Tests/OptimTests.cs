using HpsSharp.Testing;
using HpsSharp.Training.Optim;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace HpsSharp.Training.Tests;

[Trait("Category", "Model")]
public sealed class OptimTests
{
    private static Tensor Grad(int step, long[] shape)
    {
        using var g = new Generator((ulong)(100 + step), CPU);
        return randn(shape, generator: g);
    }

    [Fact]
    public void AdamWMatchesTorchAdamWOnFloat32()
    {
        var shape = new long[] { 4, 3 };
        using var init = randn(shape, generator: new Generator(1, CPU));
        using var ours = nn.Parameter(init.clone());
        using var theirs = nn.Parameter(init.clone());
        using var adam = new AdamW(new[] { new OptimizedParameter("w", ours, ParameterGroup.Decoder, 1e-2, 0.1) });
        var reference = optim.AdamW(new[] { theirs }, lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.1);
        for (int step = 0; step < 5; step++)
        {
            using var g = Grad(step, shape);
            ours.grad = g.clone();
            theirs.grad = g.clone();
            adam.Step(1.0);
            reference.step();
        }

        using var diff = (ours - theirs).abs().max();
        Assert.True(diff.item<float>() < 1e-6f, $"max |ours − torch| = {diff.item<float>()}");
    }

    [Fact]
    public void Bfloat16ParametersAreUpdatedThroughFloat32MasterWeights()
    {
        // lr·step far below one bf16 ulp of the weight: without a master copy nothing would ever move.
        using var p = nn.Parameter(ones(8, dtype: bfloat16));
        using var adam = new AdamW(new[] { new OptimizedParameter("w", p, ParameterGroup.Decoder, 1e-4, 0) });
        for (int i = 0; i < 200; i++)
        {
            p.grad = ones(8, dtype: bfloat16);
            adam.Step(1.0);
        }

        using var v = p.to(float32);
        Assert.All(v.data<float>().ToArray(), x => Assert.InRange(x, 0.975f, 0.985f)); // 1 − 200·1e-4 = 0.98
    }

    [Fact]
    public void RowRestrictedParameterUpdatesOnlyItsRows()
    {
        using var p = nn.Parameter(zeros(5, 2));
        using var adam = new AdamW(new[] { new OptimizedParameter("model.embed_tokens.weight", p, ParameterGroup.RewardEmbedding, 0.1, 0, new long[] { 3 }) });
        p.grad = ones(5, 2);
        adam.Step(1.0);
        var v = p.data<float>().ToArray();
        for (int r = 0; r < 5; r++)
        {
            Assert.Equal(r == 3 ? -0.1f : 0f, v[2 * r], 5);
        }

        Assert.Equal(Math.Sqrt(10), adam.GradientNorm(), 6); // the norm sees the whole gradient, as clip_grad_norm_ does
    }

    [Fact]
    public void OptimizerStateRoundTripsThroughItsFile()
    {
        using var dir = TestPaths.TempDir();
        using var a = nn.Parameter(ones(3, 2, dtype: bfloat16));
        using var b = nn.Parameter(ones(4));
        OptimizedParameter[] Ps(Tensor x, Tensor y) => new[]
        {
            new OptimizedParameter("a", x, ParameterGroup.Decoder, 1e-2, 0.01),
            new OptimizedParameter("b", y, ParameterGroup.Head, 1e-2, 0, new long[] { 1, 2 }),
        };
        using var opt = new AdamW(Ps(a, b));
        a.grad = full(new long[] { 3, 2 }, 0.5, dtype: bfloat16);
        b.grad = full(4, 0.25f);
        opt.Step(1.0);
        opt.Save(dir.File("opt.safetensors"));

        using var a2 = nn.Parameter(zeros(3, 2, dtype: bfloat16));
        using var b2 = nn.Parameter(b.detach().clone());
        using var opt2 = new AdamW(Ps(a2, b2));
        opt2.Load(dir.File("opt.safetensors"));
        Assert.Equal(a.to(float32).data<float>().ToArray(), a2.to(float32).data<float>().ToArray()); // masters written back

        foreach (var o in new[] { opt, opt2 })
        {
            var (x, y) = o == opt ? (a, b) : (a2, b2);
            x.grad = full(new long[] { 3, 2 }, -0.3, dtype: bfloat16);
            y.grad = full(4, 0.1f);
            o.Step(0.5);
        }

        Assert.Equal(a.to(float32).data<float>().ToArray(), a2.to(float32).data<float>().ToArray());
        Assert.Equal(b.data<float>().ToArray(), b2.data<float>().ToArray());
    }

    [Fact]
    public void SchedulesFollowTheHuggingFaceFormulas()
    {
        var cw = new LrSchedule(ScheduleKind.ConstantWithWarmup, 4, 100);
        Assert.Equal(new[] { 0, 0.25, 0.5, 0.75, 1, 1 }, Enumerable.Range(0, 6).Select(i => cw.Factor(i)));
        Assert.Equal(1, cw.Factor(99));
        var cos = new LrSchedule(ScheduleKind.Cosine, 10, 110);
        Assert.Equal(0.5, cos.Factor(5), 12);
        Assert.Equal(1, cos.Factor(10), 12);
        Assert.Equal(0.5, cos.Factor(60), 12);
        Assert.Equal(0, cos.Factor(110), 12);
        Assert.Equal(1, new LrSchedule(ScheduleKind.Constant, 5, 10).Factor(0));
        Assert.Equal(3, LrSchedule.WarmupFromRatio(41, 0.05)); // ceil(2.05)
        Assert.Throws<HpsSharp.Core.UserInputException>(() => LrSchedule.Parse("linear-ish"));
    }

    [Theory]
    [InlineData("visual.blocks.3.attn.qkv.weight", ParameterGroup.Vision, true)]
    [InlineData("visual.blocks.3.norm1.weight", ParameterGroup.Vision, false)]
    [InlineData("visual.merger.ln_q.weight", ParameterGroup.Merger, false)]
    [InlineData("visual.merger.mlp.0.weight", ParameterGroup.Merger, true)]
    [InlineData("model.layers.0.self_attn.q_proj.bias", ParameterGroup.Decoder, false)]
    [InlineData("model.layers.0.input_layernorm.weight", ParameterGroup.Decoder, true)]
    [InlineData("model.embed_tokens.weight", ParameterGroup.RewardEmbedding, false)]
    [InlineData("rm_head.0.weight", ParameterGroup.Head, true)]
    [InlineData("lm_head.weight", ParameterGroup.Unused, true)]
    public void ParameterNamesMapToGroups(string name, ParameterGroup group, bool decays)
    {
        Assert.Equal(group, ParameterGroups.Classify(name));
        Assert.Equal(decays, ParameterGroups.Decays(name));
    }
}
