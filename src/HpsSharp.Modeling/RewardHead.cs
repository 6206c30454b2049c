using HpsSharp.Core.Safetensors;
using HpsSharp.Modeling.Layers;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling;

// Python counterpart: HPSv3 hpsv3/model/qwen2vl_trainer.py `Qwen2VLRewardModelBT.__init__` (rm_head, "ranknet").

/// <summary>
/// <c>rm_head</c> = Sequential(Linear(H,1024) [0], ReLU [1], Dropout(0.05) [2], Linear(1024,16) [3], ReLU [4],
/// Linear(16,2) [5]), always fp32: the hidden state is upcast explicitly (docs/model.md#reward-head, quirk Q14).
/// Dropout is the identity at inference; in training mode it is applied with p = <see cref="Dropout"/> (0.05 as released).
/// </summary>
internal sealed class RewardHead : nn.Module<Tensor, Tensor>
{
    private readonly Linear _l0;
    private readonly Linear _l3;
    private readonly Linear _l5;

    public RewardHead(string name, long hidden, WeightSource weights)
        : base(name)
    {
        _l0 = new Linear(name + ".0", hidden, 1024, true, weights, ParameterPrecision.Float32);
        _l3 = new Linear(name + ".3", 1024, 16, true, weights, ParameterPrecision.Float32);
        _l5 = new Linear(name + ".5", 16, 2, true, weights, ParameterPrecision.Float32);
        register_module("0", _l0);
        register_module("3", _l3);
        register_module("5", _l5);
    }

    /// <summary>Dropout probability after the first ReLU in training mode (released: 0.05; 0 makes a step deterministic).</summary>
    public double Dropout { get; set; } = 0.05;

    /// <summary>[B, H] (any dtype) → [B, 2] fp32 = (μ, log σ).</summary>
    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        var x = hidden.to(_l0.weight.dtype);
        x = nn.functional.relu(_l0.forward(x));
        x = nn.functional.dropout(x, Dropout, training && Dropout > 0);
        x = nn.functional.relu(_l3.forward(x));
        return _l5.forward(x).MoveToOuterDisposeScope();
    }
}
