// Calico selector syntax: parse, evaluate, positioned errors.
import { expect } from 'chai';
import fc from 'fast-check';
import { parseSelector, matches, selectorMatches, formatSelector } from '../../../src/cluster/selector';
import { SelectorError } from '../../../src/cluster/errors';

describe('cluster/selector', () => {
  const labels = { rack: 'a', zone: 'west', 'route-reflector': 'true', 'nexthop.io/role': 'edge' };

  it('evaluates every operator', () => {
    const cases: [string, boolean][] = [
      ['', true],
      ['all()', true],
      ['global()', true],
      ["rack == 'a'", true],
      ['rack == "b"', false],
      ["rack != 'b'", true],
      ["missing != 'b'", true],
      ['has(route-reflector)', true],
      ['!has(route-reflector)', false],
      ['has(nexthop.io/role)', true],
      ["rack in {'a', 'b'}", true],
      ["rack in {}", false],
      ["rack not in {'a'}", false],
      ["missing not in {'a'}", true],
      ["missing in {'a'}", false],
      ["zone contains 'es'", true],
      ["zone starts with 'we'", true],
      ["zone ends with 'st'", true],
      ["zone ends with 'x'", false],
      ["rack == 'a' && zone == 'east'", false],
      ["rack == 'a' || zone == 'east'", true],
      ["!(rack == 'a' && zone == 'east')", true],
      ["rack == 'b' || zone == 'west' && has(route-reflector)", true],
      ["(rack == 'b' || zone == 'west') && !has(route-reflector)", false],
    ];
    for (const [sel, want] of cases) expect(selectorMatches(sel, labels), sel).to.equal(want);
  });

  it('binds && tighter than ||', () => {
    const s = parseSelector("a == '1' || b == '2' && c == '3'");
    expect(s.op).to.equal('or');
    expect(formatSelector(s)).to.equal("a == '1' || b == '2' && c == '3'");
  });

  it('reports the position of syntax errors', () => {
    const bad: [string, number, RegExp][] = [
      ["rack = 'a'", 5, /unexpected character '='/],
      ["rack == a", 8, /quoted string/],
      ["rack == 'a", 8, /unterminated string/],
      ["(rack == 'a'", 12, /expected '\)'/],
      ["rack == 'a' &&", 14, /expected a label/],
      ["has(rack", 8, /expected '\)'/],
      ["rack in {'a' 'b'}", 13, /expected ',' or '}'/],
      ["rack not {'a'}", 9, /expected 'in'/],
      ["rack == 'a' rack", 12, /expected '&&', '\|\|' or end/],
      ['all(x)', 4, /takes no arguments/],
      ['rack', 4, /expected an operator/],
    ];
    for (const [sel, pos, re] of bad) {
      try {
        parseSelector(sel);
        expect.fail(`${sel} parsed`);
      } catch (e) {
        expect(e, sel).to.be.instanceOf(SelectorError);
        expect((e as SelectorError).position, sel).to.equal(pos);
        expect((e as SelectorError).message, sel).to.match(re);
      }
    }
  });

  it('round-trips through its canonical text (property)', () => {
    const label = fc.constantFrom('a', 'rack', 'x.io/y', 'k-1');
    const value = fc.stringMatching(/^[a-z0-9 ]{0,6}$/);
    const leaf = fc.oneof(
      fc.constant('all()'),
      label.map((l) => `has(${l})`),
      fc.tuple(label, fc.constantFrom('==', '!='), value).map(([l, o, v]) => `${l} ${o} '${v}'`),
      fc.tuple(label, fc.constantFrom('in', 'not in'), fc.array(value, { maxLength: 3 })).map(([l, o, vs]) => `${l} ${o} {${vs.map((v) => `'${v}'`).join(', ')}}`),
    );
    const expr = fc.letrec((tie) => ({
      e: fc.oneof({ depthSize: 'small' }, leaf, fc.tuple(tie('e'), fc.constantFrom('&&', '||'), tie('e')).map(([a, o, b]) => `(${a}) ${o} (${b})`),
        tie('e').map((a) => `!(${a})`)),
    })).e as fc.Arbitrary<string>;
    const labelSets = fc.dictionary(label, value, { maxKeys: 4 });
    fc.assert(fc.property(expr, labelSets, (text, ls) => {
      const s = parseSelector(text);
      const again = parseSelector(formatSelector(s));
      expect(matches(again, ls)).to.equal(matches(s, ls));
    }), { numRuns: 300 });
  });
});
