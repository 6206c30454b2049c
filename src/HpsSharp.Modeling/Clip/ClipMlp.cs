using HpsSharp.Modeling.Layers;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Clip;

/// <summary>fc1 → activation → fc2 (HF <c>mlp.fc1/fc2</c>, open_clip <c>mlp.c_fc/c_proj</c>).</summary>
internal sealed class ClipMlp : nn.Module<Tensor, Tensor>
{
    public readonly Linear fc1;
    public readonly Linear fc2;
    private readonly ClipActivation _activation;

    public ClipMlp(string name, long width, long intermediate, ClipActivation activation, ClipLayout layout, WeightSource weights)
        : base(name)
    {
        var (n1, n2) = layout == ClipLayout.HuggingFace ? ("fc1", "fc2") : ("c_fc", "c_proj");
        fc1 = new Linear($"{name}.{n1}", width, intermediate, true, weights);
        fc2 = new Linear($"{name}.{n2}", intermediate, width, true, weights);
        _activation = activation;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = fc1.forward(x);
        h = _activation == ClipActivation.Gelu ? nn.functional.gelu(h) : h.mul(h.mul(1.702).sigmoid());
        return fc2.forward(h).MoveToOuterDisposeScope();
    }
}
