using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Layers;

/// <summary>
/// Gradient checkpointing for one block (PyTorch's <c>torch.utils.checkpoint</c>): the forward pass runs the block
/// without recording its graph and keeps only its input; the backward pass runs it again with the graph (restoring the
/// CPU random state, so dropout draws the same masks) and takes the gradients of the input and of the block's
/// trainable parameters from that recomputation. Gradients are those of the plain forward; the memory of a block's
/// intermediate activations is traded for one more forward of it.
/// </summary>
internal static class ActivationCheckpoint
{
    private static long _recomputations;

    /// <summary>Blocks recomputed in backward passes so far (process-wide; for tests and diagnostics).</summary>
    public static long Recomputations => Interlocked.Read(ref _recomputations);

    /// <summary>
    /// y = <paramref name="block"/>(x, extras), differentiable in <paramref name="x"/> and <paramref name="parameters"/>.
    /// <paramref name="extras"/> are tensors the block reads but never differentiates (RoPE tables, a mask; null allowed);
    /// they are kept alive by the graph until the backward pass.
    /// </summary>
    public static Tensor Run(Func<Tensor, IReadOnlyList<Tensor?>, Tensor> block, Tensor x, IReadOnlyList<Tensor?> extras, IReadOnlyList<Tensor> parameters)
    {
        var args = new object?[2 + extras.Count + parameters.Count];
        args[0] = new Plan(block, extras.Count, parameters, x.requires_grad);
        args[1] = x;
        for (int i = 0; i < extras.Count; i++)
        {
            args[2 + i] = extras[i];
        }

        for (int i = 0; i < parameters.Count; i++)
        {
            args[2 + extras.Count + i] = parameters[i];
        }

        return CheckpointFunction.apply(args!);
    }

    private sealed record Plan(Func<Tensor, IReadOnlyList<Tensor?>, Tensor> Block, int Extras, IReadOnlyList<Tensor> Parameters, bool InputRequiresGrad);

    private sealed class CheckpointFunction : autograd.SingleTensorFunction<CheckpointFunction>
    {
        public override string Name => "HpsSharpCheckpoint";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var plan = (Plan)vars[0];
            var x = (Tensor)vars[1];
            var extras = new List<Tensor?>(plan.Extras);
            for (int i = 0; i < plan.Extras; i++)
            {
                extras.Add(vars[2 + i] as Tensor);
            }

            using var rng = torch.random.get_rng_state();
            ctx.save_data("plan", plan);
            ctx.save_data("rng", rng.bytes.ToArray());
            ctx.save_data("nargs", vars.Length);
            ctx.save_for_backward([x, .. extras]);
            return plan.Block(x, extras);
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
        {
            var plan = (Plan)ctx.get_data("plan");
            Interlocked.Increment(ref _recomputations);
            BackwardHandles.ReleaseReturned();
            using var scope = NewDisposeScope();
            var saved = ctx.get_saved_variables();
            int nargs = (int)ctx.get_data("nargs");
            var input = saved[0].detach().requires_grad_(plan.InputRequiresGrad);
            var extras = saved.Skip(1).ToList();
            List<Tensor> inputs = plan.InputRequiresGrad ? [input, .. plan.Parameters] : [.. plan.Parameters];
            IList<Tensor> grads;
            var current = torch.random.get_rng_state();
            using (var stashed = tensor((byte[])ctx.get_data("rng")))
            {
                torch.random.set_rng_state(stashed);
            }

            try
            {
                using var grad = enable_grad();
                var y = plan.Block(input, extras);
                grads = autograd.grad([y], inputs, [grad_output], allow_unused: true);
            }
            finally
            {
                torch.random.set_rng_state(current);
            }

            // One entry per argument of forward: none for the plan and the extras.
            var result = new List<Tensor>(nargs) { null!, plan.InputRequiresGrad ? grads[0] : null! };
            for (int i = 0; i < plan.Extras; i++)
            {
                result.Add(null!);
            }

            int offset = plan.InputRequiresGrad ? 1 : 0;
            for (int i = 0; i < plan.Parameters.Count; i++)
            {
                result.Add(grads[offset + i]);
            }

            return BackwardHandles.Return(result, grad_output);
        }
    }
}
