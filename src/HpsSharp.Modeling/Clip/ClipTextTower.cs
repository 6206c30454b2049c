using HpsSharp.Core.Safetensors;
using HpsSharp.Modeling.Layers;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using Embedding = HpsSharp.Modeling.Layers.Embedding;
using LayerNorm = HpsSharp.Modeling.Layers.LayerNorm;
using TorchSharp.Modules;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Clip;

/// <summary>
/// CLIP's text tower (SCORERS.md §1.3–1.4): token + position embeddings → causal blocks → final LN → the state at
/// the first EOT (<c>argmax</c> of the ids: 49407 is the largest id) → projection without bias. Padding after the EOT
/// never reaches it (causal mask). An attention mask, when given, also hides padded keys (only the states at the pad
/// positions change); the scorers pass none.
/// </summary>
internal sealed class ClipTextTower : nn.Module<Tensor, Tensor>
{
    public readonly Embedding token_embedding;
    public readonly Parameter position_embedding;
    public readonly ModuleList<ClipEncoderLayer> layers;
    public readonly LayerNorm final_norm;
    public readonly Parameter projection;
    private readonly ClipLayout _layout;

    public ClipTextTower(ClipConfig cfg, ClipLayout layout, WeightSource weights)
        : base("text")
    {
        _layout = layout;
        var t = cfg.Text;
        long w = t.Width;
        bool hf = layout == ClipLayout.HuggingFace;
        token_embedding = new Embedding(hf ? "text_model.embeddings.token_embedding" : "token_embedding", cfg.VocabSize, w, weights);
        position_embedding = weights.Get(hf ? "text_model.embeddings.position_embedding.weight" : "positional_embedding", [cfg.ContextLength, w], ParameterPrecision.Model);
        layers = new ModuleList<ClipEncoderLayer>(Enumerable.Range(0, t.Layers)
            .Select(i => new ClipEncoderLayer(hf ? $"text_model.encoder.layers.{i}" : $"transformer.resblocks.{i}", t, layout, weights)).ToArray());
        final_norm = new LayerNorm(hf ? "text_model.final_layer_norm" : "ln_final", w, t.LayerNormEps, weights);
        projection = hf
            ? weights.Get("text_projection.weight", [cfg.ProjectionDim, w], ParameterPrecision.Model)
            : weights.Get("text_projection", [w, cfg.ProjectionDim], ParameterPrecision.Model);
        RegisterComponents();
    }

    public override Tensor forward(Tensor ids) => Forward(ids, null, null);

    /// <summary>ids [B, L] int64 (L ≤ context) → text embeddings [B, E] (unnormalised).</summary>
    public Tensor Forward(Tensor ids, Tensor? attentionMask, ForwardTrace? trace)
    {
        using var scope = NewDisposeScope();
        long b = ids.shape[0], l = ids.shape[1];
        var x = token_embedding.forward(ids).add(position_embedding.narrow(0, 0, l));
        var dtype = x.dtype;
        var mask = full([l, l], float.NegativeInfinity, dtype).triu(1).view(1, 1, l, l);
        if (attentionMask is not null)
        {
            var keys = attentionMask.to(ScalarType.Bool).logical_not().view(b, 1, 1, l);
            mask = mask.expand(b, 1, l, l).masked_fill(keys, float.NegativeInfinity);
        }

        var hidden = trace is null ? null : new List<Tensor> { x };
        foreach (var layer in layers)
        {
            x = layer.forward(x, mask);
            hidden?.Add(x);
        }

        if (hidden is not null)
        {
            trace!.Add("text_hidden_states", stack(hidden));
        }

        x = final_norm.forward(x);
        trace?.Add("text_last_hidden", x);
        var index = ids.argmax(-1);
        trace?.Add("text_pool_index", index);
        var pooled = x[arange(b), index];
        trace?.Add("text_pooled", pooled);
        var embeds = _layout == ClipLayout.HuggingFace ? nn.functional.linear(pooled, projection) : matmul(pooled, projection);
        trace?.Add("text_embeds", embeds);
        return embeds.MoveToOuterDisposeScope();
    }
}
