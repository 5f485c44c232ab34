-- Identity label propagation, pass 16 of 16 (macros/identity.sql).
{{ identity_pass(ref('int_identity_pass_15'), ref('int_identity_edges')) }}
