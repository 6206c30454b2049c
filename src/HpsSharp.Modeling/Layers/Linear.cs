using HpsSharp.Core.Safetensors;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Layers;

/// <summary><c>y = x·Wᵀ + b</c> with <c>weight</c> [out, in] and optional <c>bias</c> [out], as <c>torch.nn.Linear</c>.</summary>
internal sealed class Linear : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight;
    public readonly Parameter? bias;

    public Linear(string name, long inFeatures, long outFeatures, bool hasBias, WeightSource weights, ParameterPrecision precision = ParameterPrecision.Model)
        : base(name)
    {
        weight = weights.Get(name + ".weight", [outFeatures, inFeatures], precision);
        bias = hasBias ? weights.Get(name + ".bias", [outFeatures], precision) : null;
        RegisterComponents();
    }

    /// <summary>The low-rank adapter attached by <see cref="AttachLora"/>, if any.</summary>
    public LoraAdapter? Lora { get; private set; }

    public long InFeatures => weight.shape[1];

    public long OutFeatures => weight.shape[0];

    /// <summary>
    /// Attaches a LoRA adapter (PEFT's <c>lora.Linear</c>): y = x·Wᵀ + b + s·B·A·dropout(x) (s = α/r, or α/√r with rsLoRA), with A [r, in]
    /// initialised as PEFT does (kaiming-uniform with a = √5, i.e. U(−1/√in, 1/√in)) and B [out, r] zero, so the
    /// model is unchanged until B is trained. The adapter's parameters are float32 (PEFT's autocast of adapter
    /// weights) and registered as <c>lora_A.weight</c> / <c>lora_B.weight</c> under this module.
    /// </summary>
    public void AttachLora(int r, double scaling, double dropout, Generator generator)
    {
        if (Lora is not null)
        {
            throw new InvalidOperationException($"'{name}' already has a LoRA adapter");
        }

        double bound = 1.0 / Math.Sqrt(InFeatures);
        using var a = rand([r, InFeatures], ScalarType.Float32, generator: generator);
        using var scaled = a.mul(2 * bound).sub_(bound);
        var lora = new LoraAdapter(
            new LoraWeight("lora_A", scaled.to(weight.device)),
            new LoraWeight("lora_B", zeros([OutFeatures, r], ScalarType.Float32, weight.device)),
            scaling,
            dropout);
        register_module("lora_A", lora.A);
        register_module("lora_B", lora.B);
        Lora = lora;
    }

    /// <summary>Folds the adapter into the weight, W ← W + (α/r)·B·A (in float32, rounded once to W's dtype); the adapter then stops acting.</summary>
    public void MergeLora()
    {
        if (Lora is not { Merged: false } lora)
        {
            return;
        }

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var delta = lora.B.weight.matmul(lora.A.weight).mul_(lora.Scaling);
        var merged = weight.to(ScalarType.Float32).add_(delta).to(weight.dtype);
        weight.copy_(merged);
        lora.Merged = true;
    }

    public override Tensor forward(Tensor input)
    {
        var y = nn.functional.linear(input, weight, bias);
        if (Lora is not { Merged: false } lora)
        {
            return y;
        }

        using var scope = NewDisposeScope();
        var x = input.to(ScalarType.Float32);
        if (lora.Dropout > 0 && training)
        {
            x = nn.functional.dropout(x, lora.Dropout, true);
        }

        var delta = nn.functional.linear(nn.functional.linear(x, lora.A.weight), lora.B.weight).mul(lora.Scaling);
        return y.add(delta.to(y.dtype)).MoveToOuterDisposeScope();
    }
}

/// <summary>One LoRA matrix as a module with a single <c>weight</c> (PEFT's <c>lora_A</c>/<c>lora_B</c> are bias-free Linears).</summary>
internal sealed class LoraWeight : nn.Module
{
    public readonly Parameter weight;

    public LoraWeight(string name, Tensor value)
        : base(name)
    {
        weight = new Parameter(value, requires_grad: true);
        RegisterComponents();
    }
}

/// <summary>The state of one adapted layer: its two matrices, α/r, the dropout on its input, whether it is folded in.</summary>
internal sealed class LoraAdapter(LoraWeight a, LoraWeight b, double scaling, double dropout)
{
    public LoraWeight A { get; } = a;

    public LoraWeight B { get; } = b;

    public double Scaling { get; } = scaling;

    public double Dropout { get; } = dropout;

    public bool Merged { get; set; }
}
