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
        double p = training ? lora.Dropout : 0;
        var delta = is_grad_enabled() && (input.requires_grad || lora.A.weight.requires_grad || lora.B.weight.requires_grad)
            ? LoraBranch.apply(input, lora.A.weight, lora.B.weight, lora.Scaling, p)
            : LoraBranch.Compute(input, lora.A.weight, lora.B.weight, lora.Scaling, LoraBranch.Noise(input, p)).Delta;
        return y.add(delta).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// s·B·A·dropout(x) computed in float32 (PEFT's lora.Linear with float32 adapters) and rounded to x's dtype, as one
    /// autograd node that keeps only the input x (in its own dtype; the q/k/v and gate/up adapters share one copy), the
    /// dropout mask as bytes and the [.., r] product A·x. Autograd of the same expression would keep a float32 copy of
    /// the dropped input and the float32 dropout noise for every adapted Linear, 8 bytes per input element: at 7B
    /// widths ≈ 0.55 GB per decoder layer per pair, more than the layer's own activations. Values and gradients are
    /// those of the plain expression (the gradient arriving in x's dtype is widened exactly, as autograd's cast does).
    /// </summary>
    private sealed class LoraBranch : autograd.SingleTensorFunction<LoraBranch>
    {
        public override string Name => "HpsSharpLoraBranch";

        /// <summary>
        /// The dropout noise exactly as ATen's CPU <c>dropout</c> draws it (bernoulli(1 − p) on a float32 tensor of the
        /// input's shape, divided by 1 − p), so the random stream is the one <c>nn.functional.dropout</c> consumes;
        /// null without dropout.
        /// </summary>
        public static Tensor? Noise(Tensor input, double p) =>
            p > 0 ? empty(input.shape, ScalarType.Float32, input.device).bernoulli_(1 - p).div_(1 - p) : null;

        /// <summary>A·dropout(x) [.., r] in float32 and the scaled delta in x's dtype.</summary>
        public static (Tensor H, Tensor Delta) Compute(Tensor input, Tensor a, Tensor b, double scaling, Tensor? noise)
        {
            var x = input.to(ScalarType.Float32);
            var dropped = noise is null ? x : x.mul(noise);
            var h = nn.functional.linear(dropped, a);
            return (h, nn.functional.linear(h, b).mul_(scaling).to(input.dtype));
        }

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var input = (Tensor)vars[0];
            var a = (Tensor)vars[1];
            var b = (Tensor)vars[2];
            double scaling = (double)vars[3], p = (double)vars[4];
            using var scope = NewDisposeScope();
            var noise = Noise(input, p);
            var (h, delta) = Compute(input, a, b, scaling, noise);
            var keep = noise is null ? empty(0, ScalarType.Bool) : noise.ne(0);

            // TorchSharp commits the saved tensors after forward returns: h and the mask must outlive this scope (the
            // caller's scope releases the handles; the graph keeps its own references).
            ctx.save_for_backward([input, a, b, h.MoveToOuterDisposeScope(), keep.MoveToOuterDisposeScope()]);
            ctx.save_data("scaling", scaling);
            ctx.save_data("p", p);
            return delta.MoveToOuterDisposeScope();
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
        {
            BackwardHandles.ReleaseReturned();
            using var scope = NewDisposeScope();
            var saved = ctx.get_saved_variables();
            var (input, a, b, h, keep) = (saved[0], saved[1], saved[2], saved[3], saved[4]);
            double scaling = (double)ctx.get_data("scaling"), p = (double)ctx.get_data("p");
            var noise = p > 0 ? keep.to(ScalarType.Float32).div_(1 - p) : null;
            var x = input.to(ScalarType.Float32);
            var dropped = noise is null ? x : x.mul(noise);
            long r = a.shape[0], inFeatures = a.shape[1], outFeatures = b.shape[0];
            var g = grad_output.to(ScalarType.Float32).mul(scaling).reshape(-1, outFeatures); // [N, out]
            var gradB = g.t().mm(h.reshape(-1, r));                                   // [out, r]
            var gh = g.mm(b);                                                         // [N, r]
            var gradA = gh.t().mm(dropped.reshape(-1, inFeatures));                   // [r, in]
            var gx = gh.mm(a).view(input.shape);                                      // [.., in]
            if (noise is not null)
            {
                gx = gx.mul_(noise);
            }

            return BackwardHandles.Return([gx.to(input.dtype), gradA, gradB, null!, null!], grad_output);
        }
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
