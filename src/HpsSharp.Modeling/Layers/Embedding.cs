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
        weight = weights.Get(name + ".weight", [rows, dim], ParameterPrecision.Model);
        RegisterComponents();
    }

    public long Rows => weight.shape[0];

    /// <summary>
    /// When set, the gradient of <see cref="weight"/> is a sparse [vocab, hidden] tensor holding only these rows
    /// (the ones that are trained) instead of a dense matrix of the whole vocabulary: 1.1 GB less per copy at 7B.
    /// </summary>
    public long[]? GradientRows { get; set; }

    /// <summary>ids [B, L] int64 → [B, L, hidden].</summary>
    public override Tensor forward(Tensor ids)
    {
        if (GradientRows is { Length: > 0 } rows && weight.requires_grad && is_grad_enabled())
        {
            return RowGradientLookup.apply(weight, ids, rows);
        }

        return weight.index_select(0, ids.reshape(-1)).view([.. ids.shape, weight.shape[1]]);
    }

    /// <summary>The lookup with a sparse gradient restricted to a few rows.</summary>
    private sealed class RowGradientLookup : autograd.SingleTensorFunction<RowGradientLookup>
    {
        public override string Name => "HpsSharpRowGradientLookup";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var w = (Tensor)vars[0];
            var ids = (Tensor)vars[1];
            ctx.save_for_backward([ids]);
            ctx.save_data("rows", vars[2]);
            ctx.save_data("shape", w.shape);
            return w.index_select(0, ids.reshape(-1)).view([.. ids.shape, w.shape[1]]);
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
        {
            BackwardHandles.ReleaseReturned();
            using var scope = NewDisposeScope();
            var ids = ctx.get_saved_variables()[0].reshape(-1);
            var rows = (long[])ctx.get_data("rows");
            var shape = (long[])ctx.get_data("shape");
            var g = grad_output.reshape(-1, shape[1]);
            var values = stack(rows.Select(r => g.index_select(0, ids.eq(r).nonzero().flatten()).sum(0, type: g.dtype)).ToArray());
            var indices = tensor(rows, device: g.device).unsqueeze(0);
            return BackwardHandles.Return([sparse_coo_tensor(indices, values, shape), null!, null!], grad_output);
        }
    }
}
