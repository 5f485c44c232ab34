-- Label propagation, passes 2N+1..3N; the result is asserted converged by a data test.
{{ identity_passes(ref('int_identity_labels_2'), ref('int_identity_edges'), var('identity_passes_per_model')) }}
