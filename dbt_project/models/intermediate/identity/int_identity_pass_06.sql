-- Identity label propagation, pass 6 of 16 (macros/identity.sql).
{{ identity_pass(ref('int_identity_pass_05'), ref('int_identity_edges')) }}
