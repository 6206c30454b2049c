using HpsSharp.Modeling.Layers;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Blip;

/// <summary>One med.py layer in multimodal mode: self-attention, cross-attention over the image tokens, then the feed-forward with its residual LayerNorm.</summary>
internal sealed class BertLayer : nn.Module<Tensor, Tensor, Tensor?, Tensor>
{
    public readonly BertAttention attention;
    public readonly BertAttention crossattention;
    public readonly Linear intermediate;
    public readonly Linear output;
    public readonly LayerNorm output_norm;

    public BertLayer(string name, BertConfig cfg, long encoderWidth, WeightSource weights)
        : base(name)
    {
        attention = new BertAttention(name + ".attention", cfg, cfg.Hidden, weights);
        crossattention = new BertAttention(name + ".crossattention", cfg, encoderWidth, weights);
        intermediate = new Linear(name + ".intermediate.dense", cfg.Hidden, cfg.Intermediate, true, weights);
        output = new Linear(name + ".output.dense", cfg.Intermediate, cfg.Hidden, true, weights);
        output_norm = new LayerNorm(name + ".output.LayerNorm", cfg.Hidden, cfg.LayerNormEps, weights);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor image, Tensor? selfMask)
    {
        using var scope = NewDisposeScope();
        var h1 = attention.forward(x, x, selfMask);
        var h2 = crossattention.forward(h1, image, null);
        return output_norm.forward(output.forward(nn.functional.gelu(intermediate.forward(h2))).add(h2)).MoveToOuterDisposeScope();
    }
}
