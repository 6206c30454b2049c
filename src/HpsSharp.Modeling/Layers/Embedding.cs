using HpsSharp.Core.Safetensors;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Layers;

/// <summary>Token embedding [vocab, hidden]; a lookup touches only the rows it reads (the mapped file stays cold).</summary>
internal sealed class Embedding : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight;

    public Embedding(string name, long rows, long dim, WeightSource weights)
        : base(name)
    {
        weight = weights.Get(name + ".weight", [rows, dim], Hpsv3TensorRole.Backbone);
        RegisterComponents();
    }

    public long Rows => weight.shape[0];

    /// <summary>ids [B, L] int64 → [B, L, hidden].</summary>
    public override Tensor forward(Tensor ids) => weight.index_select(0, ids.reshape(-1)).view([.. ids.shape, weight.shape[1]]);
}
