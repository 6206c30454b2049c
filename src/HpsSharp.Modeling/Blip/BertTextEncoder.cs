using HpsSharp.Core.Safetensors;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using TorchSharp.Modules;
using Embedding = HpsSharp.Modeling.Layers.Embedding;
using LayerNorm = HpsSharp.Modeling.Layers.LayerNorm;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Blip;

/// <summary>
/// BLIP's <c>text_encoder</c> (med.py <c>BertModel</c>, no pooler): word + position embeddings → LayerNorm → layers
/// with cross-attention → the [CLS] state. No token-type embeddings exist; padding keys get −10000 (IMAGEREWARD.md §4.2).
/// </summary>
internal sealed class BertTextEncoder : nn.Module<Tensor, Tensor>
{
    public readonly Embedding word_embeddings;
    public readonly Parameter position_embeddings;
    public readonly LayerNorm embeddings_norm;
    public readonly ModuleList<BertLayer> layers;

    public BertTextEncoder(string name, BertConfig cfg, long encoderWidth, WeightSource weights)
        : base(name)
    {
        word_embeddings = new Embedding(name + ".embeddings.word_embeddings", cfg.VocabSize, cfg.Hidden, weights);
        position_embeddings = weights.Get(name + ".embeddings.position_embeddings.weight", [cfg.MaxPositions, cfg.Hidden], ParameterPrecision.Model);
        embeddings_norm = new LayerNorm(name + ".embeddings.LayerNorm", cfg.Hidden, cfg.LayerNormEps, weights);
        layers = new ModuleList<BertLayer>(Enumerable.Range(0, cfg.Layers).Select(i => new BertLayer($"{name}.encoder.layer.{i}", cfg, encoderWidth, weights)).ToArray());
        RegisterComponents();
    }

    public override Tensor forward(Tensor ids) => throw new NotSupportedException("use Forward(ids, mask, image, trace)");

    /// <summary>ids/mask [B, L] int64, image tokens [B, N, Wv] → the [CLS] state [B, H].</summary>
    public Tensor Forward(Tensor ids, Tensor mask, Tensor image, ForwardTrace? trace)
    {
        using var scope = NewDisposeScope();
        long l = ids.shape[1];
        var x = embeddings_norm.forward(word_embeddings.forward(ids).add(position_embeddings.narrow(0, 0, l)));
        trace?.Add("text_embeddings", x);
        // The additive mask in the activations' dtype: an fp32 mask would promote bf16 scores to fp32 (and then fail at AV).
        var ext = ones_like(mask, x.dtype).sub(mask.to(x.dtype)).mul(-10000.0).view(mask.shape[0], 1, 1, l);
        var hidden = trace is null ? null : new List<Tensor>();
        foreach (var layer in layers)
        {
            x = layer.forward(x, image, ext);
            hidden?.Add(x);
        }

        if (hidden is not null)
        {
            trace!.Add("text_layers", stack(hidden));
        }

        var cls = x.select(1, 0);
        trace?.Add("text_cls", cls);
        return cls.MoveToOuterDisposeScope();
    }
}
